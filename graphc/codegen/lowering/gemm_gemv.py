"""The GEMM for a few rows (M <= 4, nn case, e.g. batch-1 inference): a stream through B.

With so few rows the product is bound by reading B once, so the loop order is the one that
reads B in memory order: for each group of 4 depths, each row of C (held in L1) is updated
by those 4 rows of B, one vector at a time (rows after the first find them in L1).

A unit is a block of COLUMNS columns of C (all rows) over one part of the depth. B's rows are
split into up to MAX_PARTS contiguous parts (from the shapes alone: about PART_WORK multiply-
adds per row of C each), so that two cores stream two halves of a weight matrix in memory
order rather than interleaved slices of each row, which the prefetchers follow far worse. The
units are grouped into one task per thread (contiguous ranges of units).
Part 0 accumulates into C, part p into a partial block of the calling thread's scratch; once
all tasks are done the calling thread adds the partials to C in part order and runs the
epilogue. Each element of C is thus the sum, in part order, of one fma chain per part in
increasing k: the same bits for every thread count, though not the bits of the same row in a
batch of more than MAX_ROWS (one chain over all of k).
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from graphc.codegen import parallel
from graphc.codegen.llvm_util import F32, I64, counted_loop, element_ptr, i64, loop_with_carry
from graphc.codegen.lowering.gemm_vec import (
    VEC,
    call_epilogue,
    ceil_div,
    fma,
    lanes_below,
    round_down,
    smin,
    splat,
    vload,
    vstore,
    zero,
)

MAX_ROWS = 4
COLUMNS = 512
UNROLL = 4             # depths per pass over C's block: 4 rows of B stream side by side
PART_WORK = 1 << 16    # depth x columns of one part: ~256 KB of B
MAX_PARTS = 8
INLINE_WORK = 1 << 17  # M*N*K below which the tasks run on the calling thread

Fields = Callable[[ir.IRBuilder, ir.Value], dict[str, ir.Value]]
Run = Callable[[ir.IRBuilder, ir.Function, ir.Value, ir.Value, ir.Value, int], None]


def applies(bld: ir.IRBuilder, m: ir.Value) -> ir.Value:
    return bld.icmp_signed("<=", m, i64(MAX_ROWS))


def parts(bld: ir.IRBuilder, n: ir.Value, k: ir.Value) -> ir.Value:
    """How many contiguous ranges B's rows are split into: 1..min(MAX_PARTS, K)."""
    wanted = bld.sdiv(bld.mul(k, smin(bld, n, i64(COLUMNS))), i64(PART_WORK))
    wanted = smin(bld, wanted, smin(bld, k, i64(MAX_PARTS)))
    return bld.select(bld.icmp_signed("<", wanted, i64(1)), i64(1), wanted)


def emit(bld: ir.IRBuilder, module: ir.Module, name: str, ctx: ir.Value, fields_of: Fields, run: Run,
         partials_field: int, tasks_field: int) -> None:
    """The whole path at the builder: scratch for the partials, the tasks, the reduction, the epilogue."""
    f = fields_of(bld, ctx)
    count = parts(bld, f["n"], f["k"])
    block = bld.mul(f["m"], f["n"])
    partials = parallel.scratch(bld, bld.mul(bld.mul(bld.sub(count, i64(1)), block), i64(4)))
    bld.store(bld.ptrtoint(partials, I64), element_ptr(bld, ctx, i64(partials_field), I64))
    units = bld.mul(count, ceil_div(bld, f["n"], COLUMNS))
    threads = bld.sext(bld.call(parallel.num_threads(module), []), I64)
    threads = bld.select(bld.icmp_signed("<", threads, i64(1)), i64(1), threads)
    tasks = smin(bld, units, threads)
    bld.store(tasks, element_ptr(bld, ctx, i64(tasks_field), I64))
    task = _task(module, name, fields_of, partials_field, tasks_field)
    work = bld.mul(block, f["k"])
    run(bld, task, ctx, tasks, work, INLINE_WORK)
    with bld.if_then(bld.icmp_signed(">", count, i64(1))):
        _reduce(bld, f, partials, count)
        call_epilogue(bld, f["epilogue"], f["epilogue_ctx"], None, i64(0), f["m"], i64(0), f["n"])


def _task(module: ir.Module, name: str, fields_of: Fields, partials_field: int,
          tasks_field: int) -> ir.Function:
    """`void task(ptr ctx, i64 t)`: a contiguous range of the units (depth part p, columns
    [c*COLUMNS, ...)), one range per thread: whichever thread runs it, a unit's sums are the same,
    and the thread that posts the loop claims task 0 first, so each core streams the same part of a
    weight matrix on every call and finds what its L2 kept of it: the tutorial CNN's 4608 x 128
    Dense at batch 1 took 15.5 us instead of 17.3 with its 8 parts claimed in a new order each call."""
    fn, bld = parallel.task_function(module, f"{name}_gemv_task")
    ctx, t = fn.args
    f = fields_of(bld, ctx)
    count = parts(bld, f["n"], f["k"])
    blocks = ceil_div(bld, f["n"], COLUMNS)
    units = bld.mul(count, blocks)
    tasks = bld.load(element_ptr(bld, ctx, i64(tasks_field), I64), typ=I64)
    first = bld.sdiv(bld.mul(units, t), tasks)
    end = bld.sdiv(bld.mul(units, bld.add(t, i64(1))), tasks)
    with counted_loop(bld, end, start=first, name="unit") as unit:
        _unit(bld, f, unit, count, blocks, ctx, partials_field)
    bld.ret_void()
    return fn


def _unit(bld: ir.IRBuilder, f: dict, t: ir.Value, count: ir.Value, blocks: ir.Value, ctx: ir.Value,
          partials_field: int) -> None:
    """All rows x columns [c*COLUMNS, ...) over depth part p, for unit t = p * blocks + c."""
    part, c0 = bld.sdiv(t, blocks), bld.mul(bld.srem(t, blocks), i64(COLUMNS))
    k0 = bld.sdiv(bld.mul(f["k"], part), count)
    k1 = bld.sdiv(bld.mul(f["k"], bld.add(part, i64(1))), count)
    width = smin(bld, i64(COLUMNS), bld.sub(f["n"], c0))
    partials = bld.inttoptr(bld.load(element_ptr(bld, ctx, i64(partials_field), I64), typ=I64), f["c"].type)
    offset = bld.mul(bld.sub(part, i64(1)), bld.mul(f["m"], f["n"]))
    first = bld.icmp_signed("==", part, i64(0))
    out = bld.select(first, f["c"], element_ptr(bld, partials, offset))
    _stream(bld, f, out, c0, width, k0, k1)
    call_epilogue(bld, f["epilogue"], f["epilogue_ctx"], bld.icmp_signed("==", count, i64(1)), i64(0), f["m"],
                  c0, width)


def _stream(bld: ir.IRBuilder, f: dict, out: ir.Value, c0: ir.Value, width: ir.Value, k0: ir.Value,
            k1: ir.Value) -> None:
    """out[:, c0:c0+width] = A[:, k0:k1] @ B[k0:k1, c0:c0+width], row stride N."""
    m_dim, n_dim, k_dim = f["m"], f["n"], f["k"]
    full = round_down(bld, width, VEC)
    tail = lanes_below(bld, bld.sub(width, full))
    with counted_loop(bld, m_dim, name="zr") as i:
        out_row = element_ptr(bld, out, bld.add(bld.mul(i, n_dim), c0))
        with counted_loop(bld, full, step=VEC, name="z") as col:
            vstore(bld, zero(), element_ptr(bld, out_row, col), None)
        vstore(bld, zero(), element_ptr(bld, out_row, full), tail)
    grouped = bld.add(k0, round_down(bld, bld.sub(k1, k0), UNROLL))
    for depths, start, end in ((UNROLL, k0, grouped), (1, grouped, k1)):
        with counted_loop(bld, end, start=start, step=depths, name=f"k{depths}") as kk:
            ks = [kk if u == 0 else bld.add(kk, i64(u)) for u in range(depths)]
            b_rows = [element_ptr(bld, f["b"], bld.add(bld.mul(k, n_dim), c0)) for k in ks]
            with counted_loop(bld, m_dim, name=f"r{depths}") as i:
                a_row = bld.mul(i, k_dim)
                a = [splat(bld, bld.load(element_ptr(bld, f["a"], bld.add(a_row, k)), typ=F32), F32)
                     for k in ks]
                out_row = element_ptr(bld, out, bld.add(bld.mul(i, n_dim), c0))
                with counted_loop(bld, full, step=VEC, name=f"v{depths}") as col:
                    _update(bld, out_row, b_rows, a, col, None)
                _update(bld, out_row, b_rows, a, full, tail)


def _update(
    bld: ir.IRBuilder, out_row: ir.Value, b_rows: list[ir.Value], a: list[ir.Value], col: ir.Value,
    mask: ir.Value | None,
) -> None:
    """out[i, col:col+16] = its fma chain over the group's depths."""
    ptr = element_ptr(bld, out_row, col)
    acc = vload(bld, ptr, mask)
    for av, b_row in zip(a, b_rows, strict=True):
        acc = fma(bld, av, vload(bld, element_ptr(bld, b_row, col), mask), acc)
    vstore(bld, acc, ptr, mask)


def _reduce(bld: ir.IRBuilder, f: dict, partials: ir.Value, count: ir.Value) -> None:
    """C += partial 1, then partial 2, ...: the same order whichever threads computed them."""
    total = bld.mul(f["m"], f["n"])
    full = round_down(bld, total, VEC)
    with counted_loop(bld, full, step=VEC, name="sum") as at:
        _sum_parts(bld, f["c"], partials, count, total, at, None)
    _sum_parts(bld, f["c"], partials, count, total, full, lanes_below(bld, bld.sub(total, full)))


def _sum_parts(bld: ir.IRBuilder, c: ir.Value, partials: ir.Value, count: ir.Value, total: ir.Value,
               at: ir.Value, mask: ir.Value | None) -> None:
    c_ptr = element_ptr(bld, c, at)
    init = [vload(bld, c_ptr, mask)]
    with loop_with_carry(bld, bld.sub(count, i64(1)), init, name="part") as (p, acc, nxt, out):
        partial = element_ptr(bld, partials, bld.add(bld.mul(p, total), at))
        nxt.append(bld.fadd(acc[0], vload(bld, partial, mask)))
    vstore(bld, out[0], c_ptr, mask)
