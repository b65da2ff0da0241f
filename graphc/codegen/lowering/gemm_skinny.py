"""The GEMM for skinny outputs (N <= 16 columns, e.g. logits and their gradients), vectorized over M or K.

Broadcasting A over 16-wide vectors of B wastes lanes when N is small (N=10 fills 10 of 16),
so these products put whole vectors elsewhere. The N columns are covered by groups of 8, 2
and 1 columns (10 = 8 + 2), each a compiled tile whose accumulators are all useful (one
tile per width keeps compile time down; a tile per N was faster still for N=10 but cost
~0.4 s of LLVM time):

- A not transposed (nn, nt): dot products vectorized over K. A's rows are contiguous in K and
  so are B's columns once B^T is at hand (nt reads B in place; nn transposes it into scratch
  by 16x16 blocks). A tile of R rows x g columns keeps R*g accumulators of 16 partial sums,
  then reduces them with one shuffle tree and stores each row's g sums.
- A transposed (tn, tt): vectors of 16 rows of C (up to 4 per tile), read straight from A's
  rows, times broadcast elements of B; the finished accumulators (one per column) are
  transposed into C's rows by 16x16 blocks.

A task is a block of TASK_ROWS rows with all N columns; each element is summed in an order
fixed by K alone, so results do not depend on the thread count. The epilogue runs once per task.
"""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen import parallel
from graphc.codegen.llvm_util import F32, I1, I32, counted_loop, element_ptr, i64, loop_with_carry
from graphc.codegen.lowering.gemm_vec import (
    V16,
    VEC,
    call_epilogue,
    ceil_div,
    fma,
    lanes_below,
    reduce16,
    round_down,
    smin,
    splat,
    transpose_function,
    unchecked_ptr,
    vload,
    vstore,
    zero,
)

MAX_N = 16
GROUPS = (8, 2, 1)  # column-group widths: N is covered greedily (10 = 8 + 2), each a compiled tile
TASK_ROWS = 128
MIN_K = 32            # below this depth the general path's broadcast tiles do as well
ACCUMULATORS = 24


def applies(bld: ir.IRBuilder, n: ir.Value, k: ir.Value) -> ir.Value:
    return bld.and_(bld.icmp_signed("<=", n, i64(MAX_N)), bld.icmp_signed(">=", k, i64(MIN_K)))


def task_count(bld: ir.IRBuilder, m: ir.Value) -> ir.Value:
    return ceil_div(bld, m, TASK_ROWS)


def emit_task(module: ir.Module, name: str, ta: bool, tb: bool, fields_of) -> ir.Function:
    """The task function `void task(ptr ctx, i64 t)`: rows [t*TASK_ROWS, ...) x all N columns."""
    fn, bld = parallel.task_function(module, f"{name}_skinny_task")
    ctx, t = fn.args
    f = fields_of(bld, ctx)
    buffer = bld.alloca(V16, size=VEC, name="tile") if ta else None
    r0 = bld.mul(t, i64(TASK_ROWS))
    r1 = smin(bld, f["m"], bld.add(r0, i64(TASK_ROWS)))
    bt = f["b"]
    if not ta and not tb:
        bt = parallel.scratch(bld, bld.mul(bld.mul(f["n"], f["k"]), i64(4)))
        _transpose_b(bld, f, bt)
    c0 = i64(0)
    for width in GROUPS:
        end = bld.add(c0, round_down(bld, bld.sub(f["n"], c0), width))
        with counted_loop(bld, end, start=c0, step=width, name=f"g{width}") as col:
            if ta:
                _by_rows(bld, f, tb, width, col, r0, r1, buffer)
            else:
                _by_depth(bld, f, bt, width, col, r0, r1)
        c0 = end
    call_epilogue(bld, f["epilogue"], f["epilogue_ctx"], None, r0, bld.sub(r1, r0), i64(0), f["n"])
    bld.ret_void()
    return fn


def _transpose_b(bld: ir.IRBuilder, f: dict, bt: ir.Value) -> None:
    """bt[j * K + k] = B[k, j], by blocks of 16 depths."""
    transpose = transpose_function(bld.module)
    k_dim, n_dim = f["k"], f["n"]
    with counted_loop(bld, k_dim, step=VEC, name="bt") as k0:
        src = element_ptr(bld, f["b"], bld.mul(k0, n_dim))
        rows = smin(bld, i64(VEC), bld.sub(k_dim, k0))
        bld.call(transpose, [src, n_dim, rows, n_dim, element_ptr(bld, bt, k0), k_dim])


def _by_depth(
    bld: ir.IRBuilder, f: dict, bt: ir.Value, nj: int, c0: ir.Value, r0: ir.Value, r1: ir.Value
) -> None:
    """Tiles of R rows x columns c0..c0+nj, dot products over K in 16 lanes."""
    mr = max(1, min(8, (ACCUMULATORS + 4) // (nj + 1)))
    m_dim, n_dim, k_dim, a, c = f["m"], f["n"], f["k"], f["a"], f["c"]
    last_row = bld.sub(m_dim, i64(1))
    row_mask = lanes_below(bld, i64(nj))
    with counted_loop(bld, r1, start=r0, step=mr, name=f"d{nj}") as i0:
        a_rows = [element_ptr(bld, a, bld.mul(smin(bld, bld.add(i0, i64(i)), last_row), k_dim))
                  for i in range(mr)]
        b_rows = [element_ptr(bld, bt, bld.mul(bld.add(c0, i64(j)), k_dim)) for j in range(nj)]
        chunks = ceil_div(bld, k_dim, VEC)
        with loop_with_carry(bld, chunks, [zero()] * (mr * nj), name=f"dk{nj}") as (q, acc, nxt, result):
            kk = bld.mul(q, i64(VEC))
            mask = lanes_below(bld, bld.sub(k_dim, kk))
            avs = [vload(bld, unchecked_ptr(bld, p, kk), mask) for p in a_rows]
            updated = {}
            for j, p in enumerate(b_rows):
                bv = vload(bld, unchecked_ptr(bld, p, kk), mask)
                for i in range(mr):
                    updated[i * nj + j] = fma(bld, avs[i], bv, acc[i * nj + j])
            nxt.extend(updated[i] for i in range(mr * nj))
        sums = reduce16(bld, result)
        for i in range(mr):
            flat = i * nj
            lanes = [min(flat % VEC + lane, VEC - 1) for lane in range(VEC)]
            row = bld.shuffle_vector(sums[flat // VEC], sums[flat // VEC],
                                     ir.Constant(ir.VectorType(I32, VEC), lanes))
            inside = splat(bld, bld.icmp_signed("<", bld.add(i0, i64(i)), r1), I1)
            out = unchecked_ptr(bld, c, bld.add(bld.mul(bld.add(i0, i64(i)), n_dim), c0))
            vstore(bld, row, out, bld.and_(row_mask, inside))


def _by_rows(
    bld: ir.IRBuilder, f: dict, tb: bool, nj: int, c0: ir.Value, r0: ir.Value, r1: ir.Value,
    buffer: ir.Value,
) -> None:
    """Tiles of 16*RV rows x columns c0..c0+nj: rows in vector lanes, A read along its rows."""
    rv = max(1, min(4, ACCUMULATORS // nj))
    m_dim, n_dim, k_dim, a, b, c = f["m"], f["n"], f["k"], f["a"], f["b"], f["c"]
    transpose = transpose_function(bld.module)
    with counted_loop(bld, r1, start=r0, step=VEC * rv, name=f"r{nj}") as i0:
        valid = [bld.sub(r1, bld.add(i0, i64(VEC * v))) for v in range(rv)]
        masks = [lanes_below(bld, count) for count in valid]
        with loop_with_carry(bld, k_dim, [zero()] * (rv * nj), name=f"rk{nj}") as (k, acc, nxt, result):
            row = element_ptr(bld, a, bld.add(bld.mul(k, m_dim), i0))
            avs = [vload(bld, unchecked_ptr(bld, row, i64(VEC * v)), masks[v]) for v in range(rv)]
            updated = {}
            for j in range(nj):
                col = bld.add(c0, i64(j))
                index = bld.add(bld.mul(col, k_dim), k) if tb else bld.add(bld.mul(k, n_dim), col)
                bj = splat(bld, bld.load(element_ptr(bld, b, index), typ=F32), F32)
                for v in range(rv):
                    updated[v * nj + j] = fma(bld, avs[v], bj, acc[v * nj + j])
            nxt.extend(updated[i] for i in range(rv * nj))
        for v in range(rv):
            for j in range(nj):
                bld.store(result[v * nj + j], element_ptr(bld, buffer, i64(j), V16), align=4)
            dst = unchecked_ptr(bld, c, bld.add(bld.mul(bld.add(i0, i64(VEC * v)), n_dim), c0))
            cols = smin(bld, i64(VEC), valid[v])
            bld.call(transpose, [buffer, i64(VEC), i64(nj), cols, dst, n_dim])
