"""concatenate: each operand copied into its box of the output;
gather and scatter_add: rows addressed by int indices, checked against the axis length in the
loop (an out-of-range index reads and writes nothing).

Slices and pads need no kernel: they are pointwise reads at an offset (OpDef.offsets; a pad's
guarded), fused into their consumers. These kernels are memory-bound and run on the calling thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llvmlite import ir

from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import I64, constant, element_ptr, i64, llvm_type, within
from graphc.codegen.lowering.parallel_loops import Cut
from graphc.codegen.lowering.pointwise import ScalarSite, base_offset, load_value, shift_base, store_value
from graphc.codegen.lowering.registry import kernel_lowering
from graphc.ir.affine import Sym, coalesce, contiguous_strides, numel
from graphc.ir.graph import Node
from graphc.ops.movement import CONCATENATE, GATHER, SCATTER_ADD

IndexBody = Callable[[ir.Value, ir.Value, ir.Value], None]


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
        _loops(ctx, src, dst, sizes, strides, level + 1, ctx.advance(offsets, strides, level, index))


@kernel_lowering(CONCATENATE)
def _concatenate(ctx: KernelContext, node: Node) -> None:
    axis, start = node.attrs["axis"], 0
    for src in node.inputs:
        _copy_into(ctx, src, node, [start if a == axis else 0 for a in range(node.type.rank)])
        start += src.shape[axis]


def _index_space(data: Node, indices: Node, axis: int) -> tuple[Sym, Sym, Sym, Sym]:
    """outer (data axes before `axis`), count (index positions), length (data's `axis`), inner."""
    return (numel(data.shape[:axis]), numel(indices.shape), Sym.dim(data.shape[axis]),
            numel(data.shape[axis + 1:]))


def _each_index(ctx: KernelContext, data: Node, indices: Node, axis: int, body: IndexBody) -> None:
    """body(data_offset, indexed_offset, in_range) for every element the indices address, serially.

    data_offset addresses `data` at the index (at index 0 when it is out of range, so nothing is
    ever read or written outside a buffer); indexed_offset addresses the gathered layout.
    """
    b = ctx.builder
    outer, count, length, inner = _index_space(data, indices, axis)
    itype = llvm_type(indices.type.dtype)
    with Cut(i64(0), ctx.sym(outer)).loop(b, name="outer") as o:
        with Cut(i64(0), ctx.sym(count)).loop(b, name="position") as p:
            raw = b.load(element_ptr(b, ctx.ptr(indices), p, itype), typ=itype)
            index = raw if itype == I64 else b.sext(raw, I64)
            in_range = within(b, index, i64(0), ctx.sym(length))
            safe = b.select(in_range, index, i64(0))
            data_row = b.mul(b.add(b.mul(o, ctx.sym(length)), safe), ctx.sym(inner))
            indexed_row = b.mul(b.add(b.mul(o, ctx.sym(count)), p), ctx.sym(inner))
            with Cut(i64(0), ctx.sym(inner)).loop(b, name="inner") as i:
                body(b.add(data_row, i), b.add(indexed_row, i), in_range)


@kernel_lowering(GATHER)
def _gather(ctx: KernelContext, node: Node) -> None:
    params, indices = node.inputs
    zero = constant(0, node.type.dtype)

    def body(data_at: ir.Value, out_at: ir.Value, in_range: ir.Value) -> None:
        value = load_value(ctx, params, data_at)
        store_value(ctx, node, out_at, ctx.builder.select(in_range, value, zero))

    _each_index(ctx, params, indices, node.attrs["axis"], body)


@kernel_lowering(SCATTER_ADD)
def _scatter_add(ctx: KernelContext, node: Node) -> None:
    """A copy of the target, then one serial pass adding the updates: repeated indices accumulate
    without races because nothing runs concurrently."""
    target, indices, updates = node.inputs
    site = ScalarSite(ctx.builder, ctx.batch, [])
    with Cut(i64(0), ctx.sym(numel(node.shape))).loop(ctx.builder, name="copy") as k:
        store_value(ctx, node, k, load_value(ctx, target, k))
    zero = constant(0, node.type.dtype)

    def body(data_at: ir.Value, update_at: ir.Value, in_range: ir.Value) -> None:
        update = ctx.builder.select(in_range, load_value(ctx, updates, update_at), zero)
        store_value(ctx, node, data_at, site.add(load_value(ctx, node, data_at), update))

    _each_index(ctx, target, indices, node.attrs["axis"], body)
