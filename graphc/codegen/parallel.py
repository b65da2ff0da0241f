"""Calls from generated code into the native worker pool (native/graphc_pool.c).

The pool is C because it is plain systems code (threads, a condition variable, atomics) that
gains nothing from being generated; it is compiled once per C compiler and source version,
kept in the compile cache, and linked into every library (support.py), so an AOT build needs
only libc and pthreads. Generated code sees three functions:

    void graphc_parallel_for(void (*task)(void *ctx, int64_t t), void *ctx, int64_t tasks);
    void *graphc_scratch(int64_t bytes);     // thread-private, 64-byte aligned
    int32_t graphc_get_num_threads(void);    // to group a fixed split into one task per thread

Loops choose their split from the shapes alone, so every thread count gives the same bits.
"""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen.llvm_util import I32, I64, PTR, VOID

TASK_TYPE = ir.FunctionType(VOID, [PTR, I64])


def task_function(module: ir.Module, name: str) -> tuple[ir.Function, ir.IRBuilder]:
    """An internal `void name(ptr ctx, i64 t)` for parallel_for, and a builder at its entry."""
    fn = ir.Function(module, TASK_TYPE, name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    return fn, ir.IRBuilder(fn.append_basic_block("entry"))


def parallel_for(builder: ir.IRBuilder, task: ir.Function, ctx: ir.Value, tasks: ir.Value) -> None:
    fn = _declare(builder.module, "graphc_parallel_for", ir.FunctionType(VOID, [PTR, PTR, I64]))
    builder.call(fn, [task, ctx, tasks])


def num_threads(module: ir.Module) -> ir.Function:
    """`int32_t graphc_get_num_threads(void)`: the pool's thread count, for code that groups a fixed
    split of its work into one task per thread (which thread computes a part never changes a bit)."""
    return _declare(module, "graphc_get_num_threads", ir.FunctionType(I32, []))


def scratch(builder: ir.IRBuilder, nbytes: ir.Value) -> ir.Value:
    fn = _declare(builder.module, "graphc_scratch", ir.FunctionType(PTR, [I64]))
    return builder.call(fn, [nbytes])


def _declare(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    fn = ir.Function(module, fnty, name)
    fn.attributes.add("nounwind")
    return fn
