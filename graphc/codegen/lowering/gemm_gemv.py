"""The GEMM for a few rows (M <= 4, nn case, e.g. batch-1 inference): a stream through B.

With so few rows the product is bound by reading B once, so the loop order is the one that
reads B in memory order: for each group of 4 depths, each row of C (held in L1) is updated
by those 4 rows of B, one vector at a time (rows after the first find them in L1). Each
element of C is still one chain of fmas in increasing k starting from zero, the order every
other path uses. A task is a block of
COLUMNS columns of C (all rows), from the shapes alone; the epilogue runs once per task.
"""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen import parallel
from graphc.codegen.llvm_util import F32, counted_loop, element_ptr, i64
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
UNROLL = 4            # depths per pass over C's block: 4 rows of B stream side by side


def applies(bld: ir.IRBuilder, m: ir.Value) -> ir.Value:
    return bld.icmp_signed("<=", m, i64(MAX_ROWS))


def task_count(bld: ir.IRBuilder, n: ir.Value) -> ir.Value:
    return ceil_div(bld, n, COLUMNS)


def emit_task(module: ir.Module, name: str, fields_of) -> ir.Function:
    """The task function `void task(ptr ctx, i64 t)`: all rows x columns [t*COLUMNS, ...)."""
    fn, bld = parallel.task_function(module, f"{name}_gemv_task")
    ctx, t = fn.args
    f = fields_of(bld, ctx)
    c0 = bld.mul(t, i64(COLUMNS))
    width = smin(bld, i64(COLUMNS), bld.sub(f["n"], c0))
    _stream(bld, f, c0, width)
    call_epilogue(bld, f["epilogue"], f["epilogue_ctx"], None, i64(0), f["m"], c0, width)
    bld.ret_void()
    return fn


def _stream(bld: ir.IRBuilder, f: dict, c0: ir.Value, width: ir.Value) -> None:
    m_dim, n_dim, k_dim = f["m"], f["n"], f["k"]
    full = round_down(bld, width, VEC)
    tail = lanes_below(bld, bld.sub(width, full))
    with counted_loop(bld, m_dim, name="zr") as i:
        c_row = element_ptr(bld, f["c"], bld.add(bld.mul(i, n_dim), c0))
        with counted_loop(bld, full, step=VEC, name="z") as col:
            vstore(bld, zero(), element_ptr(bld, c_row, col), None)
        vstore(bld, zero(), element_ptr(bld, c_row, full), tail)
    grouped = round_down(bld, k_dim, UNROLL)
    for depths, start, end in ((UNROLL, i64(0), grouped), (1, grouped, k_dim)):
        with counted_loop(bld, end, start=start, step=depths, name=f"k{depths}") as k0:
            ks = [k0 if u == 0 else bld.add(k0, i64(u)) for u in range(depths)]
            b_rows = [element_ptr(bld, f["b"], bld.add(bld.mul(k, n_dim), c0)) for k in ks]
            with counted_loop(bld, m_dim, name=f"r{depths}") as i:
                a_row = bld.mul(i, k_dim)
                a = [splat(bld, bld.load(element_ptr(bld, f["a"], bld.add(a_row, k)), typ=F32), F32)
                     for k in ks]
                c_row = element_ptr(bld, f["c"], bld.add(bld.mul(i, n_dim), c0))
                with counted_loop(bld, full, step=VEC, name=f"v{depths}") as col:
                    _update(bld, c_row, b_rows, a, col, None)
                _update(bld, c_row, b_rows, a, full, tail)


def _update(
    bld: ir.IRBuilder, c_row: ir.Value, b_rows: list[ir.Value], a: list[ir.Value], col: ir.Value,
    mask: ir.Value | None,
) -> None:
    """C[i, col:col+16] = its fma chain over the group's depths."""
    ptr = element_ptr(bld, c_row, col)
    acc = vload(bld, ptr, mask)
    for av, b_row in zip(a, b_rows, strict=True):
        acc = fma(bld, av, vload(bld, element_ptr(bld, b_row, col), mask), acc)
    vstore(bld, acc, ptr, mask)
