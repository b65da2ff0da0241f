"""Reductions: sum and max over any axis set, and argmax along one axis.

sum/max walk the input once in memory order and accumulate into the output: when the
innermost run is reduced the accumulator lives in a register (a vectorizable reduction),
otherwise the innermost loop is a unit-stride update of an output row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llvmlite import ir

from graphc.codegen.affine import ZERO, Sym, coalesce, contiguous_strides, numel
from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import (
    F32,
    counted_loop,
    f32,
    i64,
    intrinsic,
    load_f32,
    loop_with_carry,
    store_f32,
)
from graphc.codegen.lowering.registry import kernel_lowering
from graphc.ir.graph import Node

Combine = Callable[[ir.IRBuilder, ir.Value, ir.Value], ir.Value]
REASSOC = ("reassoc", "nsz")

def _sum(b: ir.IRBuilder, acc: ir.Value, x: ir.Value) -> ir.Value:
    return b.fadd(acc, x, flags=REASSOC)

def _max(b: ir.IRBuilder, acc: ir.Value, x: ir.Value) -> ir.Value:
    return b.call(intrinsic(b.module, "llvm.maximum.f32", F32, [F32, F32]), [acc, x])

def _reduce(ctx: KernelContext, node: Node, identity: float, combine: Combine) -> None:
    b = ctx.builder
    (x,) = node.inputs
    axes = set(node.attrs["axes"])
    out, src = ctx.ptr(node), ctx.ptr(x)
    with counted_loop(b, ctx.sym(numel(node.shape)), name="init") as i:
        store_f32(b, f32(identity), out, i)
    kept = tuple(1 if a in axes else d for a, d in enumerate(x.shape))
    kept_strides = contiguous_strides(kept)
    out_strides = [ZERO if a in axes else kept_strides[a] for a in range(x.type.rank)]
    nest = coalesce([Sym.dim(d) for d in x.shape], [contiguous_strides(x.shape), out_strides])
    _walk(ctx, nest.sizes, nest.strides, 0, [i64(0), i64(0)], src, out, combine)

def _walk(
    ctx: KernelContext, sizes: Sequence[Sym], strides: Sequence[Sequence[Sym]], level: int,
    offsets: list[ir.Value], src: ir.Value, out: ir.Value, combine: Combine,
) -> None:
    b = ctx.builder
    in_strides, out_strides = strides
    if level == len(sizes):
        store_f32(b, combine(b, load_f32(b, out, offsets[1]), load_f32(b, src, offsets[0])), out, offsets[1])
        return
    if level == len(sizes) - 1 and out_strides[level].is_zero:
        acc0 = load_f32(b, out, offsets[1])
        with loop_with_carry(b, ctx.sym(sizes[level]), [acc0], name="red") as (i, (acc,), nxt, result):
            at = b.add(offsets[0], _scaled(ctx, i, in_strides[level]))
            nxt.append(combine(b, acc, load_f32(b, src, at)))
        store_f32(b, result[0], out, offsets[1])
        return
    with counted_loop(b, ctx.sym(sizes[level]), name=f"r{level}") as i:
        inner = [b.add(off, _scaled(ctx, i, st[level])) for off, st in zip(offsets, strides, strict=True)]
        _walk(ctx, sizes, strides, level + 1, inner, src, out, combine)

def _scaled(ctx: KernelContext, index: ir.Value, stride: Sym) -> ir.Value:
    if stride.is_zero:
        return i64(0)
    return index if stride.is_one else ctx.builder.mul(index, ctx.sym(stride))

@kernel_lowering("reduce_sum")
def _reduce_sum(ctx: KernelContext, node: Node) -> None:
    _reduce(ctx, node, 0.0, _sum)

@kernel_lowering("reduce_max")
def _reduce_max(ctx: KernelContext, node: Node) -> None:
    _reduce(ctx, node, float("-inf"), _max)

@kernel_lowering("argmax")
def _argmax(ctx: KernelContext, node: Node) -> None:
    """First index of the maximum; a NaN counts as the maximum, as in numpy."""
    b = ctx.builder
    (x,) = node.inputs
    axis = node.attrs["axis"]
    outer = numel(x.shape[:axis])
    length = Sym.dim(x.shape[axis])
    inner = numel(x.shape[axis + 1:])
    src, out = ctx.ptr(x), ctx.ptr(node)
    with counted_loop(b, ctx.sym(outer), name="o") as o:
        with counted_loop(b, ctx.sym(inner), name="j") as j:
            base = b.add(b.mul(o, ctx.sym(length * inner)), j)
            first = load_f32(b, src, base)
            with loop_with_carry(
                b, ctx.sym(length), [first, i64(0)], start=i64(1), name="a"
            ) as (k, (best, best_k), nxt, result):
                value = load_f32(b, src, b.add(base, b.mul(k, ctx.sym(inner))))
                greater = b.fcmp_ordered(">", value, best)
                first_nan = b.and_(b.fcmp_unordered("uno", value, value), b.fcmp_ordered("ord", best, best))
                take = b.or_(greater, first_nan)
                nxt.extend([b.select(take, value, best), b.select(take, k, best_k)])
            store_f32(b, b.sitofp(result[1], F32), out, b.add(b.mul(o, ctx.sym(inner)), j))

