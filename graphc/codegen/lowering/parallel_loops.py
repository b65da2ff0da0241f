"""Running a kernel's loop nest as tasks of the native worker pool (graphc_parallel_for).

A kernel hands over the loop it can cut (an axis no two tasks write the same output element
through: a pointwise kernel's outermost loop, a reduction's outermost kept axis) and a body
that emits the nest for one index range [lo, hi) of it. The body is emitted once, into a
function `range(i64 N, i64 lo, i64 hi, ptr noalias...)`. Kernels known at compile time to be
small run it inline as before; the others call it on the whole range when their work (in
elements, from N at run time) is below PARALLEL_WORK, else hand it to the pool as tasks of
GRAIN elements. A task reads N and the buffers from a block of i64 the kernel fills.

The split comes from the shapes alone, and every element is computed by the same code in the
same order whichever task runs it, so results are bit-identical for every thread count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llvmlite import ir

from graphc.codegen import parallel
from graphc.codegen.affine import ONE, Sym
from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import I64, PTR, VOID, element_ptr, i64

# Elements below which a kernel stays on the calling thread: waking the pool costs a few
# microseconds, about what one core needs for 32k elements of a simple elementwise loop.
PARALLEL_WORK = 1 << 15
GRAIN = 1 << 14  # elements per task: a multiple of the vector width, so chunks stay aligned

RangeBody = Callable[[KernelContext, ir.Value, ir.Value], None]


def split_range(ctx: KernelContext, extent: Sym, inner: Sym, body: RangeBody) -> None:
    """Run `body(ctx, lo, hi)` over [0, extent), in parallel when extent * inner elements are many.

    `inner` is the work of one index of the cut loop (the product of the other loops' extents).
    """
    work = extent * inner
    if work.power == 0 and work.coef < PARALLEL_WORK:
        body(ctx, i64(0), ctx.sym(extent))
        return
    if ctx.scratch is not None:
        raise ValueError("a kernel with a scratch buffer cannot be split into tasks sharing it")
    b = ctx.builder
    pointers = list(dict.fromkeys(ctx.pointers.values()))
    always_parallel = work.power == 0
    range_fn = _range_function(ctx, pointers, body, inline=always_parallel)
    task_fn = _task_function(range_fn, extent, inner, len(pointers))
    if always_parallel:
        _dispatch(ctx, task_fn, pointers, extent, inner)
        return
    small = b.icmp_signed("<", ctx.sym(work), i64(PARALLEL_WORK))
    with b.if_else(small) as (inline, pooled):
        with inline:
            b.call(range_fn, [ctx.batch, i64(0), ctx.sym(extent), *pointers])
        with pooled:
            _dispatch(ctx, task_fn, pointers, extent, inner)


def product(sizes: Sequence[Sym]) -> Sym:
    total = ONE
    for size in sizes:
        total = total * size
    return total


def _range_function(ctx: KernelContext, pointers: list[ir.Value], body: RangeBody,
                    inline: bool) -> ir.Function:
    """The nest over [lo, hi) of the cut loop; kept out of line when the kernel also calls it directly."""
    kernel_fn = ctx.builder.function
    fnty = ir.FunctionType(VOID, [I64, I64, I64] + [PTR] * len(pointers))
    fn = ir.Function(ctx.module, fnty, f"{kernel_fn.name}_range")
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    if not inline:
        fn.attributes.add("noinline")
    batch, lo, hi, *params = fn.args
    for param in params:
        param.add_attribute("noalias")
    param_of = dict(zip(pointers, params, strict=True))
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    sub = KernelContext(builder, batch, {node: param_of[value] for node, value in ctx.pointers.items()})
    body(sub, lo, hi)
    builder.ret_void()
    return fn


def _task_function(range_fn: ir.Function, extent: Sym, inner: Sym, count: int) -> ir.Function:
    """`task(ctx, t)`: chunk t of the cut loop, with N and the buffers read from the context block."""
    fn = ir.Function(range_fn.module, parallel.TASK_TYPE, range_fn.name.removesuffix("_range") + "_task")
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    block, t = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    fields = [b.load(element_ptr(b, block, i64(k), I64), typ=I64) for k in range(count + 1)]
    batch = fields[0]
    pointers = [b.inttoptr(value, PTR) for value in fields[1:]]
    task = KernelContext(b, batch, {})
    end = task.sym(extent)
    chunk = _chunk(task, inner)
    lo = b.mul(t, chunk)
    hi = b.add(lo, chunk)
    hi = b.select(b.icmp_signed("<", hi, end), hi, end)
    b.call(range_fn, [batch, lo, hi, *pointers])
    b.ret_void()
    return fn


def _dispatch(ctx: KernelContext, task_fn: ir.Function, pointers: list[ir.Value], extent: Sym,
              inner: Sym) -> None:
    b = ctx.builder
    with b.goto_entry_block():
        block = b.alloca(I64, size=1 + len(pointers), name="tasks_ctx")
    b.store(ctx.batch, element_ptr(b, block, i64(0), I64))
    for k, value in enumerate(pointers, start=1):
        b.store(b.ptrtoint(value, I64), element_ptr(b, block, i64(k), I64))
    chunk = _chunk(ctx, inner)
    end = ctx.sym(extent)
    tasks = b.sdiv(b.add(end, b.sub(chunk, i64(1))), chunk)
    parallel.parallel_for(b, task_fn, block, tasks)


def _chunk(ctx: KernelContext, inner: Sym) -> ir.Value:
    """Indices of the cut loop per task: GRAIN elements' worth, at least one."""
    b = ctx.builder
    per_index = ctx.sym(inner)
    return b.sdiv(b.add(i64(GRAIN), b.sub(per_index, i64(1))), per_index)
