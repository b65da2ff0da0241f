"""random_uniform: the counter-based hash of graphc.ops.random, bit for bit."""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen.llvm_util import F32, I32, I64, f32
from graphc.codegen.lowering.pointwise import ScalarSite
from graphc.codegen.lowering.registry import pointwise_lowering
from graphc.ir.graph import Node
from graphc.ops.random import GOLDEN, MIX1, MIX2, RANDOM_UNIFORM, STREAM_MIX


def _fmix32(b: ir.IRBuilder, h: ir.Value) -> ir.Value:
    h = b.xor(h, b.lshr(h, ir.Constant(I32, 16)))
    h = b.mul(h, ir.Constant(I32, MIX1))
    h = b.xor(h, b.lshr(h, ir.Constant(I32, 13)))
    h = b.mul(h, ir.Constant(I32, MIX2))
    return b.xor(h, b.lshr(h, ir.Constant(I32, 16)))


@pointwise_lowering(RANDOM_UNIFORM)
def _random_uniform(site: ScalarSite, node: Node, args: list[ir.Value]) -> ir.Value:
    b = site.builder
    seed = args[0]
    low = b.trunc(seed, I32)
    high = b.trunc(b.lshr(seed, ir.Constant(I64, 32)), I32)
    high_mix = _fmix32(b, b.add(high, ir.Constant(I32, GOLDEN)))
    stream = ir.Constant(I32, (node.attrs["stream"] * STREAM_MIX) & 0xFFFFFFFF)
    key = _fmix32(b, b.add(b.add(b.mul(low, ir.Constant(I32, GOLDEN)), stream), high_mix))
    index = b.trunc(site.index(0), I32)
    bits = _fmix32(b, b.add(b.mul(index, ir.Constant(I32, GOLDEN)), key))
    return b.fmul(b.uitofp(b.lshr(bits, ir.Constant(I32, 8)), F32), f32(2.0**-24))
