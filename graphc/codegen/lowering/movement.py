"""pad and concatenate: each operand copied into its box of the larger output (pad fills first).

Slices need no kernel: they are pointwise reads at an offset (OpDef.offsets), fused into
their consumers. These copies are memory-bound and run on the calling thread.
"""

from __future__ import annotations

from collections.abc import Sequence

from llvmlite import ir

from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import i64
from graphc.codegen.lowering.parallel_loops import Cut
from graphc.codegen.lowering.pointwise import ScalarSite, base_offset, load_value, shift_base, store_value
from graphc.codegen.lowering.registry import kernel_lowering
from graphc.ir.affine import Sym, coalesce, contiguous_strides, numel
from graphc.ir.graph import Node
from graphc.ops.movement import CONCATENATE, PAD


def _copy_into(ctx: KernelContext, src: Node, dst: Node, start: Sequence[int]) -> None:
    """dst[start + i] = src[i] for every index i of src."""
    dst_strides = contiguous_strides(dst.shape)
    nest = coalesce([Sym.dim(d) for d in src.shape], [contiguous_strides(src.shape), dst_strides])
    base = base_offset(ctx, shift_base(dst_strides, tuple(start))) or i64(0)
    _loops(ctx, src, dst, nest.sizes, nest.strides, 0, [i64(0), base])


def _loops(ctx: KernelContext, src: Node, dst: Node, sizes: Sequence[Sym], strides: Sequence[Sequence[Sym]],
           level: int, offsets: list[ir.Value]) -> None:
    builder = ctx.builder
    if level == len(sizes):
        store_value(ctx, dst, offsets[1], load_value(ctx, src, offsets[0]))
        return
    with Cut(i64(0), ctx.sym(sizes[level])).loop(builder, name=f"copy{level}") as index:
        inner = [offset if vector[level].is_zero else builder.add(offset, _times(ctx, index, vector[level]))
                 for offset, vector in zip(offsets, strides, strict=True)]
        _loops(ctx, src, dst, sizes, strides, level + 1, inner)


def _times(ctx: KernelContext, index: ir.Value, stride: Sym) -> ir.Value:
    return index if stride.is_one else ctx.builder.mul(index, ctx.sym(stride))


@kernel_lowering(PAD)
def _pad(ctx: KernelContext, node: Node) -> None:
    value = ScalarSite(ctx.builder, ctx.batch, []).constant(node.attrs["value"], node.type.dtype)
    with Cut(i64(0), ctx.sym(numel(node.shape))).loop(ctx.builder, name="fill") as index:
        store_value(ctx, node, index, value)
    _copy_into(ctx, node.inputs[0], node, [lo for lo, _ in node.attrs["pads"]])


@kernel_lowering(CONCATENATE)
def _concatenate(ctx: KernelContext, node: Node) -> None:
    axis, start = node.attrs["axis"], 0
    for src in node.inputs:
        _copy_into(ctx, src, node, [start if a == axis else 0 for a in range(node.type.rank)])
        start += src.shape[axis]
