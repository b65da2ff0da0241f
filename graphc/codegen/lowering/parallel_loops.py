"""Running a kernel's loop nest as tasks of the native worker pool (graphc_parallel_for).

A kernel hands over the loop it can cut (an axis no two tasks write the same output element
through: a pointwise kernel's outermost loop, a reduction's outermost kept axis) and a body
that emits the nest for one range of it (a Cut). The body is emitted once, into a
function `range(i64 N, i64 lo, i64 hi, ptr noalias...)` inlined into the kernel's task
function `task(ctx, t)`, which reads N and the buffers from a block of i64 the kernel fills and
covers chunk t (GRAIN elements' worth of the cut loop). Kernels small at every batch size up to
LARGEST_BATCH keep their loops inline, unchanged; the others run their tasks on the calling
thread when their work (in elements, from N at run time) is below PARALLEL_WORK, else hand them
to the pool.

The split comes from the shapes alone, and every element is computed by the same code in the
same order whichever task runs it, so results are bit-identical for every thread count.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from llvmlite import ir

from graphc.codegen import parallel
from graphc.codegen.context import KernelContext, load_fields, noalias_function, store_fields
from graphc.codegen.llvm_util import I64, PTR, VOID, IndirectCallee, counted_loop, i64
from graphc.ir.affine import ONE, Sym

# Elements below which a kernel stays on the calling thread. Measured with the workers awake
# (2 threads): 32k elements of relu 3.8 -> 2.8 us, of exp 15.4 -> 9.0 us; 16k gained nothing.
PARALLEL_WORK = 1 << 15
GRAIN = 1 << 14  # elements per task: a multiple of the vector width, so chunks stay aligned
# Kernels that reach PARALLEL_WORK only beyond this batch size are not outlined at all: the
# thin per-sample loops (losses, softmax rows) would gain little and cost compile time.
LARGEST_BATCH = 1024

VECTOR = 16  # floats per vector: chunks of extents divisible by it start and end on whole vectors


@dataclass(frozen=True)
class Cut:
    """The range [lo, hi) of the cut loop that one call covers; lo and hi are multiples of `block`."""

    lo: ir.Value
    hi: ir.Value
    block: int = 1

    @contextlib.contextmanager
    def loop(self, builder: ir.IRBuilder, name: str) -> Iterator[ir.Value]:
        """`for i in [lo, hi)`, as blocks of a constant trip count when block > 1.

        The constant inner trip count tells the vectorizer that no remainder loop is needed,
        which the unknown bounds of a chunk would otherwise cost in code size and compile time.
        """
        if self.block == 1:
            with counted_loop(builder, self.hi, start=self.lo, name=name) as index:
                yield index
            return
        with counted_loop(builder, self.hi, start=self.lo, step=self.block, name=f"{name}.block") as base:
            with counted_loop(builder, i64(self.block), name=name) as offset:
                yield builder.add(base, offset, flags=("nsw",))


RangeBody = Callable[[KernelContext, Cut], None]


def split_range(ctx: KernelContext, extent: Sym, inner: Sym, body: RangeBody) -> None:
    """Run `body` over [0, extent) of the cut loop, in parallel when extent * inner elements are many.

    `inner` is the work of one index of the cut loop (the product of the other loops' extents).
    """
    work = extent * inner
    if work.coef * LARGEST_BATCH**work.power < PARALLEL_WORK:
        body(ctx, Cut(i64(0), ctx.sym(extent)))
        return
    if ctx.scratch is not None:
        raise ValueError("a kernel with a scratch buffer cannot be split into tasks sharing it")
    b = ctx.builder
    block = VECTOR if extent.coef % VECTOR == 0 else 1
    range_fn, pointers = _range_function(ctx, body, block)
    task_fn = _task_function(range_fn, extent, inner, block, len(pointers))
    context = store_fields(b, ctx.batch, pointers, "tasks_ctx")
    chunk = _chunk(ctx, inner, block)
    tasks = b.sdiv(b.add(ctx.sym(extent), b.sub(chunk, i64(1))), chunk)
    if work.power == 0:
        parallel.parallel_for(b, task_fn, context, tasks)
    else:
        b.call(_run_tasks(ctx.module), [task_fn, context, tasks, ctx.sym(work)])


def product(sizes: Sequence[Sym]) -> Sym:
    total = ONE
    for size in sizes:
        total = total * size
    return total


def _range_function(ctx: KernelContext, body: RangeBody, block: int) -> tuple[ir.Function, list[ir.Value]]:
    """The nest over a range [lo, hi) of the cut loop, its buffers `noalias` (it is inlined into the task)."""
    fn, sub, (lo, hi), pointers = noalias_function(ctx, f"{ctx.builder.function.name}_range", 2)
    body(sub, Cut(lo, hi, block))
    sub.builder.ret_void()
    return fn, pointers


def _task_function(range_fn: ir.Function, extent: Sym, inner: Sym, block: int, count: int) -> ir.Function:
    """`task(ctx, t)`: chunk t of the cut loop, with N and the buffers read from the context block."""
    fn, b = parallel.task_function(range_fn.module, range_fn.name.removesuffix("_range") + "_task")
    context, t = fn.args
    batch, pointers = load_fields(b, context, count)
    task = KernelContext(b, batch, {})
    end = task.sym(extent)
    chunk = _chunk(task, inner, block)
    lo = b.mul(t, chunk)
    hi = b.add(lo, chunk)
    hi = b.select(b.icmp_signed("<", hi, end), hi, end)
    b.call(range_fn, [batch, lo, hi, *pointers])
    b.ret_void()
    return fn


def _run_tasks(module: ir.Module) -> ir.Function:
    """`run_tasks(task, ctx, tasks, work)`: on this thread below PARALLEL_WORK, else through the pool.

    One shared function rather than a branch in every kernel: the kernels' identical conditions
    would otherwise let jump threading duplicate the program between them.
    """
    name = "graphc_run_tasks"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    fn = ir.Function(module, ir.FunctionType(VOID, [PTR, PTR, I64, I64]), name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    task, context, tasks, work = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    with b.if_else(b.icmp_signed("<", work, i64(PARALLEL_WORK))) as (inline, pooled):
        with inline:
            with counted_loop(b, tasks, name="task") as t:
                b.call(IndirectCallee(task, parallel.TASK_TYPE), [context, t])
        with pooled:
            parallel.parallel_for(b, task, context, tasks)
    b.ret_void()
    return fn


def _chunk(ctx: KernelContext, inner: Sym, block: int) -> ir.Value:
    """Indices of the cut loop per task: GRAIN elements' worth, a positive multiple of `block`."""
    b = ctx.builder
    per_block = ctx.sym(inner * block)
    blocks = b.sdiv(b.add(i64(GRAIN), b.sub(per_block, i64(1))), per_block)
    return b.mul(blocks, i64(block))
