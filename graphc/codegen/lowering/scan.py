"""scan: a native loop calling its body, compiled as an internal program of the same module.

The body goes through the model pipeline (fusion, GEMM epilogues) and program emission like any
program, so its kernels are the ones a model gets (a recurrent product with its gates fused into
the GEMM's epilogue), each parallel on the pool; the code and its compile time do not depend on
the number of steps. Per step the loop fills the body's argument array: the carries (two buffers
in the scan's scratch, written and read in turn), the step's element of each sequence and its
place in each stacked output (time-major, so both are one contiguous block at t * element
bytes), and the constants; the body's own workspace follows the carry buffers in the scratch,
which therefore grows with N.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from llvmlite import ir

from graphc.codegen.buffers import Size, assign_buffers
from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import I1, I32, I64, PTR, VOID, counted_loop, i64, intrinsic
from graphc.codegen.lowering.registry import kernel_lowering
from graphc.codegen.program import ConstantPool, emit_program
from graphc.ir.affine import Sym, numel
from graphc.ir.graph import Graph, Node
from graphc.ir.verify import verify
from graphc.ops.scan import SCAN
from graphc.passes.kernels import partition
from graphc.passes.pipeline import DEFAULT_LEVEL, run_pipeline


@dataclass(frozen=True)
class _Body:
    graph: Graph  # optimized
    workspace: Size


_bodies: weakref.WeakKeyDictionary[Graph, _Body] = weakref.WeakKeyDictionary()
# Held while a body is looked up or optimized: models compile on several threads at once, and the
# library build asks for a body's GEMM cases outside the IR lock.
_bodies_lock = threading.RLock()  # re-entered by a scan nested in a body


def _body(node: Node) -> _Body:
    """The node's body as compiled (optimized once per body graph)."""
    region: Graph = node.attrs["body"]
    with _bodies_lock:
        if region not in _bodies:
            graph = run_pipeline(region, DEFAULT_LEVEL, instruments=()).graph
            verify(graph, region=True)  # a region's arguments may hold k * N rows
            plan = assign_buffers(graph, partition(graph))
            _bodies[region] = _Body(graph, plan.arena_size)
        return _bodies[region]


def _bytes(node: Node) -> Size:
    nbytes = numel(node.shape) * node.type.itemsize
    return Size.of(nbytes).aligned()


def _carry_layout(node: Node) -> tuple[list[Size], Size]:
    """Offsets of the carries within one carry buffer, and the buffer's size."""
    offsets, end = [], Size()
    for carry in list(node.attrs["body"].inputs.values())[: node.attrs["carries"]]:
        offsets.append(end)
        end = end + _bytes(carry)
    return offsets, end


def scratch(node: Node) -> Size:
    """Two carry buffers and the body's workspace."""
    _, carries = _carry_layout(node)
    return carries + carries + _body(node).workspace.aligned()


def _regions(node: Node) -> list[Graph]:
    return [_body(node).graph]


def _step_bytes(node: Node) -> Sym:
    return numel(node.shape) * node.type.itemsize


@kernel_lowering(SCAN, scratch_bytes=scratch, regions=_regions)
def emit_scan(ctx: KernelContext, node: Node) -> None:
    b = ctx.builder
    attrs = node.attrs
    k, s, length = attrs["carries"], attrs["sequences"], attrs["length"]
    body = _body(node).graph
    name = f"{b.function.name}_body"
    emit_program(ctx.module, name, body, ConstantPool(ctx.module, f"{name}_const"), internal=True)
    callee = ctx.module.get_global(f"graphc_{name}")
    inputs, outputs = list(body.inputs.values()), list(body.outputs.values())
    operands = [ctx.ptr(op) for op in node.inputs]
    carries, sequences, constants = operands[:k], operands[k : k + s], operands[k + s :]

    offsets, carry_size = _carry_layout(node)
    # no scratch at all when there are no carries and the body needs no workspace
    scratch = ctx.scratch if ctx.scratch is not None else ir.Constant(PTR, None)
    buffers = [_at(ctx, scratch, Size()), _at(ctx, scratch, carry_size)]
    workspace = _at(ctx, scratch, carry_size + carry_size)
    carry_bytes = [ctx.sym(_step_bytes(c)) for c in inputs[:k]]
    first = [_at(ctx, buffers[0], off) for off in offsets]
    for dst, src, nbytes in zip(first, carries, carry_bytes, strict=True):
        _memcpy(b, dst, src, nbytes)

    args = b.alloca(ir.ArrayType(PTR, max(len(inputs) + len(outputs), 1)), name="body_args")
    element_bytes = [ctx.sym(_step_bytes(x)) for x in inputs[k : k + s]]
    y_bytes = [ctx.sym(_step_bytes(y)) for y in outputs[k:]]
    with counted_loop(b, i64(length), name="t") as t:
        step = b.sub(i64(length - 1), t) if attrs.get("reverse") else t
        pointers = []
        if k:
            even = b.icmp_signed("==", b.and_(t, i64(1)), i64(0))
            read = b.select(even, buffers[0], buffers[1])
            write = b.select(even, buffers[1], buffers[0])
            pointers += [_at(ctx, read, off) for off in offsets]
        pointers += [
            b.gep(x, [b.mul(step, n)], inbounds=True, source_etype=ir.IntType(8))
            for x, n in zip(sequences, element_bytes, strict=True)
        ]
        pointers += constants
        if k:
            pointers += [_at(ctx, write, off) for off in offsets]
        pointers += [
            b.gep(y, [b.mul(step, n)], inbounds=True, source_etype=ir.IntType(8))
            for y, n in zip(ctx.parts[k:], y_bytes, strict=True)
        ]
        for index, pointer in enumerate(pointers):
            b.store(pointer, b.gep(args, [i64(0), ir.Constant(I32, index)], inbounds=True))
        b.call(callee, [ctx.batch, b.bitcast(args, PTR), workspace])
    final = buffers[length % 2]
    for part, off, nbytes in zip(ctx.parts[:k], offsets, carry_bytes, strict=True):
        _memcpy(b, part, _at(ctx, final, off), nbytes)


def _at(ctx: KernelContext, base: ir.Value, offset: Size) -> ir.Value:
    """base + static + per_batch * N bytes."""
    if offset.static == 0 and offset.per_batch == 0:
        return base
    nbytes = ctx.builder.add(i64(offset.static), ctx.builder.mul(i64(offset.per_batch), ctx.batch))
    return ctx.builder.gep(base, [nbytes], inbounds=True, source_etype=ir.IntType(8))


def _memcpy(b: ir.IRBuilder, dst: ir.Value, src: ir.Value, nbytes: ir.Value) -> None:
    fn = intrinsic(b.module, "llvm.memcpy.p0.p0.i64", VOID, [PTR, PTR, I64, I1])
    b.call(fn, [dst, src, nbytes, ir.Constant(I1, 0)])
