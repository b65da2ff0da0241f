"""Reductions: sum and max over any axis set, and argmax along one axis.

sum/max walk the input once in memory order and accumulate into the output: when the
innermost run is reduced the accumulator lives in a register (a vectorizable reduction),
otherwise the innermost loop is a unit-stride update of an output row.

A fused group ending in a sum or max (graphc.passes.kernels) walks the same way, but the
reduced element is computed by the group's pointwise expression instead of loaded, and the
members used outside the group are stored at the element being visited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llvmlite import ir

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
from graphc.codegen.lowering.parallel_loops import Cut, product, split_range
from graphc.codegen.lowering.pointwise import (
    Apply,
    Immediate,
    Load,
    PointwisePlan,
    immediate,
    store_value,
)
from graphc.codegen.lowering.registry import kernel_lowering
from graphc.ir.affine import ZERO, Sym, coalesce, contiguous_strides, numel
from graphc.ir.graph import Node
from graphc.ops.reduction import ARGMAX, REDUCE_MAX, REDUCE_SUM
from graphc.passes.kernels import Kernel

Combine = Callable[[ir.IRBuilder, ir.Value, ir.Value], ir.Value]
REASSOC = ("reassoc", "nsz")
SHORT_RUN = 16  # a reduced innermost run up to this long is summed in a fixed order (_Walk.short_sum)


def _sum(b: ir.IRBuilder, acc: ir.Value, x: ir.Value) -> ir.Value:
    return b.fadd(acc, x, flags=REASSOC)


def _max(b: ir.IRBuilder, acc: ir.Value, x: ir.Value) -> ir.Value:
    return b.call(intrinsic(b.module, "llvm.maximum.f32", F32, [F32, F32]), [acc, x])


COMBINE: dict[str, tuple[float, Combine]] = {"reduce_sum": (0.0, _sum), "reduce_max": (float("-inf"), _max)}


class _Element:
    """Produces the reduced value (and the stored members' values) at one point of the input space."""

    def __init__(self, ctx: KernelContext, plan: PointwisePlan, stored: Sequence[Node]) -> None:
        self.ctx = ctx
        self.plan = plan
        self.stored = stored

    def visit(self, offsets: Sequence[ir.Value]) -> ir.Value:
        """Evaluate every root first (an output never overwrites an input read later), then store."""
        values: dict[int, ir.Value] = {}

        def evaluate(expr: Load | Immediate | Apply) -> ir.Value:
            if id(expr) not in values:
                if isinstance(expr, Load):
                    values[id(expr)] = expr.value(self.ctx, offsets)
                elif isinstance(expr, Immediate):
                    values[id(expr)] = immediate(self.ctx, expr.node)
                else:
                    values[id(expr)] = expr.emit(self.ctx, offsets, [evaluate(a) for a in expr.args])
            return values[id(expr)]

        results = [evaluate(root) for root in self.plan.roots]
        at = offsets[self.plan.output_stream]
        for node, value in zip(self.stored, results[1:], strict=True):
            store_value(self.ctx, node, at, value)
        return results[0]


def emit_reduction_group(ctx: KernelContext, kernel: Kernel) -> None:
    """One walk of the reduced input space for a fused group ending in reduce_sum or reduce_max."""
    red = kernel.reduction
    if red is None:
        raise ValueError(f"kernel {kernel.name} does not end in a reduction")
    stored = [n for n in kernel.outputs if n is not red]
    _reduce(ctx, red, kernel.nodes[:-1], stored)


def _reduce(
    ctx: KernelContext, node: Node, producers: Sequence[Node] = (), stored: Sequence[Node] = ()
) -> None:
    """`stored` are values of the input's shape (the reduced input among them or not) to write out.

    Tasks split the outermost loop over a kept axis: each owns a contiguous run of output
    elements and combines every one of them in the same order as a single task would. A
    reduction with no kept axis runs as one task. When only the innermost loop is reduced, each
    output element is finished by one register loop that starts at the identity: no pass over the
    output fills it first (a loop less for LLVM to compile, ~4 ms of a small kernel's ~9).
    """
    (x,) = node.inputs
    identity, combine = COMBINE[node.op]
    plan = PointwisePlan(Kernel(tuple(producers), (x, *stored)))
    axes = set(node.attrs["axes"])
    kept = tuple(1 if a in axes else d for a, d in enumerate(x.shape))
    kept_strides = contiguous_strides(kept)
    out_strides = [ZERO if a in axes else kept_strides[a] for a in range(x.type.rank)]
    nest = coalesce([Sym.dim(d) for d in x.shape], [*plan.streams, out_strides])
    reduced = [k for k, stride in enumerate(nest.strides[-1]) if stride.is_zero]
    in_register = reduced == [len(nest.sizes) - 1]

    def run(sub: KernelContext, level: int | None, cut: Cut) -> None:
        b = sub.builder
        out = sub.ptr(node)
        if level is None:
            first, last = i64(0), sub.sym(numel(node.shape))
        else:
            span = sub.sym(nest.strides[-1][level])
            first, last = b.mul(cut.lo, span), b.mul(cut.hi, span)
        if not in_register:
            with counted_loop(b, last, start=first, name="init") as i:
                store_f32(b, f32(identity), out, i)
        start = f32(identity) if in_register else None
        element = _Element(sub, plan, stored)
        walk = _Walk(sub, nest.sizes, nest.strides, element, out, combine, level, cut, start)
        walk.level(0, [i64(0)] * len(nest.strides))

    level = next((k for k, stride in enumerate(nest.strides[-1]) if not stride.is_zero), None)
    if level is None:
        run(ctx, None, Cut(i64(0), i64(1)))
        return
    others = product([*nest.sizes[:level], *nest.sizes[level + 1:]])
    split_range(ctx, nest.sizes[level], others, lambda sub, cut: run(sub, level, cut))


@dataclass
class _Walk:
    """Loops over the input space (loop `cut_level` over `cut` only); the last stream is the output.
    `start`: the register loop's first accumulator (the identity), else it reads the output's value."""

    ctx: KernelContext
    sizes: Sequence[Sym]
    strides: Sequence[Sequence[Sym]]
    element: _Element
    out: ir.Value
    combine: Combine
    cut_level: int | None
    cut: Cut
    start: ir.Value | None

    def level(self, level: int, offsets: list[ir.Value]) -> None:
        ctx, b, out, combine = self.ctx, self.ctx.builder, self.out, self.combine
        sizes, strides = self.sizes, self.strides
        if level == len(sizes):
            value = self.element.visit(offsets)
            store_f32(b, combine(b, load_f32(b, out, offsets[-1]), value), out, offsets[-1])
            return
        if level == len(sizes) - 1 and strides[-1][level].is_zero:
            acc0 = self.start if self.start is not None else load_f32(b, out, offsets[-1])
            size = sizes[level]
            if combine is _sum and size.power == 0 and size.coef <= SHORT_RUN:
                store_f32(b, b.fadd(acc0, self.short_sum(offsets, level, size.coef)), out, offsets[-1])
                return
            with loop_with_carry(b, ctx.sym(size), [acc0], name="red") as (i, (acc,), nxt, result):
                inner = ctx.advance(offsets, strides, level, i)
                nxt.append(combine(b, acc, self.element.visit(inner)))
            store_f32(b, result[0], out, offsets[-1])
            return
        loop = self.cut if level == self.cut_level else Cut(i64(0), ctx.sym(sizes[level]))
        with loop.loop(b, name=f"r{level}") as i:
            self.level(level + 1, ctx.advance(offsets, strides, level, i))

    def short_sum(self, offsets: list[ir.Value], level: int, count: int) -> ir.Value:
        """The sum of a short innermost run in a fixed order: its elements into a row on the stack (a
        loop LLVM vectorizes without reassociating anything), then added pairwise. No fast-math flag,
        so every pipeline computes the same bits: a short kernel can run QUICK code first and FULL
        code later (codegen.tiered_kernel), and a 10-class softmax still vectorizes its exponentials."""
        ctx, b = self.ctx, self.ctx.builder
        with b.goto_entry_block():
            row = b.alloca(F32, size=count, name="run")
        with counted_loop(b, i64(count), name="run") as k:
            store_f32(b, self.element.visit(ctx.advance(offsets, self.strides, level, k)), row, k)
        values = [load_f32(b, row, i64(j)) for j in range(count)]
        while len(values) > 1:
            pairs = [b.fadd(values[j], values[j + 1]) for j in range(0, len(values) - 1, 2)]
            values = pairs + values[len(values) - len(values) % 2:]
        return values[0]


@kernel_lowering(REDUCE_SUM)
def _reduce_sum(ctx: KernelContext, node: Node) -> None:
    _reduce(ctx, node)

@kernel_lowering(REDUCE_MAX)
def _reduce_max(ctx: KernelContext, node: Node) -> None:
    _reduce(ctx, node)

@kernel_lowering(ARGMAX)
def _argmax(ctx: KernelContext, node: Node) -> None:
    """First index of the maximum; a NaN counts as the maximum, as in numpy.

    Tasks split the loop over the axes before `axis` (after it when there are none before).
    """
    (x,) = node.inputs
    axis = node.attrs["axis"]
    outer = numel(x.shape[:axis])
    length = Sym.dim(x.shape[axis])
    inner = numel(x.shape[axis + 1:])

    def run(sub: KernelContext, o_range: Cut | None, j_range: Cut | None) -> None:
        b = sub.builder
        src, out = sub.ptr(x), sub.ptr(node)
        o_loop = o_range or Cut(i64(0), sub.sym(outer))
        j_loop = j_range or Cut(i64(0), sub.sym(inner))
        with o_loop.loop(b, name="o") as o:
            with j_loop.loop(b, name="j") as j:
                base = b.add(b.mul(o, sub.sym(length * inner)), j)
                best = _first_max(b, src, base, sub.sym(length), sub.sym(inner))
                store_f32(b, b.sitofp(best, F32), out, b.add(b.mul(o, sub.sym(inner)), j))

    if outer.is_one:
        split_range(ctx, inner, length, lambda sub, cut: run(sub, None, cut))
    else:
        split_range(ctx, outer, length * inner, lambda sub, cut: run(sub, cut, None))


def _first_max(b: ir.IRBuilder, src: ir.Value, base: ir.Value, length: ir.Value, step: ir.Value) -> ir.Value:
    """The index k of the first maximum of src[base + k * step] for k in [0, length)."""
    first = load_f32(b, src, base)
    carry = loop_with_carry(b, length, [first, i64(0)], start=i64(1), name="a")
    with carry as (k, (best, best_k), nxt, result):
        value = load_f32(b, src, b.add(base, b.mul(k, step)))
        greater = b.fcmp_ordered(">", value, best)
        first_nan = b.and_(b.fcmp_unordered("uno", value, value), b.fcmp_ordered("ord", best, best))
        take = b.or_(greater, first_nan)
        nxt.extend([b.select(take, value, best), b.select(take, k, best_k)])
    return result[1]
