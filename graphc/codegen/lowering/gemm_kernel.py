"""The shared GEMM: packed B panels, register-blocked tiles on 16-wide vectors, parallel tasks.

C (M x N) = op(A) @ op(B) for one transpose case. The output is cut into tasks of MC rows x
NC columns (from the shapes alone; narrower column blocks of whole panels, and with B read in
place fewer rows, when that makes fewer than MIN_TASKS tasks); the pool runs them on any number
of threads. A task walks the depth in equal blocks of at most KC. When A or B is transposed it
packs each B block into thread-private scratch as panels of 64 columns (zero-padded to whole
vectors, transposing when B is transposed); with neither transposed (every inference product:
activations times a weight) it reads B where it lies, whose rows hold the panels' vectors
already. Packing the constant weight on every call cost the tutorial CNN's Dense 4608 -> 128 at
batch 64 10-15% of its time (ONNX Runtime packs its weights once per session); reading in place
needs nothing kept in step with the weights, and measured as fast as packing on square products
up to 2048^3. The task then sweeps its rows in tiles whose accumulators stay in registers: 6
rows x 64 columns (24 zmm) for full panels (then 4 x 64 and 1 x 64 for the rows left over),
12 x 32 for a last partial panel of two vectors (a convolution's 32 filters: two vectors of B per
12 broadcasts, where two 12 x 16 passes loaded one per 12) and 12 x 16 vector by vector for
other last panels (then 1-row tiles). More tile shapes (8 x 48, 6 x 64 masked, 4-row tails on
partial panels) made the object 2.5x slower to compile, for shapes the image models do not
have. Each element of A is broadcast; B is read as contiguous vectors. Tasks are MC=768 rows
high so that each packed B block serves many row tiles (packing B for every 96 rows cost 2048^3
a quarter of its speed).

Skinny outputs (N <= 16, gemm_skinny.py) and few rows (M <= 4, neither operand transposed,
gemm_gemv.py) take their own paths, chosen from the shapes at run time.

Every element of C is summed in the same order (depth blocks in order, k in order within a
block, one fma per k), whichever tile or task computes it: results do not depend on the
thread count (the few-rows path sums fixed depth parts, see gemm_gemv.py). After the last
depth block each tile is handed to the optional epilogue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llvmlite import ir

from graphc.codegen import parallel
from graphc.codegen.llvm_util import (
    F32,
    I32,
    I64,
    PTR,
    counted_loop,
    element_ptr,
    i64,
    loop_with_carry,
)
from graphc.codegen.lowering import gemm_gemv, gemm_skinny
from graphc.codegen.lowering.gemm import GEMM_TYPE, gemm_name
from graphc.codegen.lowering.gemm_vec import (
    EPILOGUE_TYPE,
    LANES,
    VEC,
    call_epilogue,
    ceil_div,
    fma,
    round_down,
    round_up,
    smin,
    splat,
    vload,
    vstore,
    zero,
)

__all__ = ["EPILOGUE_TYPE", "shared_gemm"]

PANEL = 64            # columns of a packed B panel (4 vectors)
MR_WIDE = 6           # rows of a tile over a full panel: 6 x 4 accumulators
MR_NARROW = 12        # rows of a tile over the last partial panel (one or two vectors)
TAIL_ROWS = 4         # the rows full-panel tiles leave (64 = 10 x 6 + 4): tiles of 4 rows, then of one
KC = 256
NC = 256
MC = 768             # rows per task: large, so that a packed B block serves many row tiles
MIN_TASKS = 4        # below this many MC x NC tasks, columns are cut into narrower blocks (of whole panels)
ROW_MULTIPLE = 12    # and, B read in place, rows into blocks of whole 6- and 12-row tiles
INLINE_WORK = 1 << 20  # M*N*K below which tasks run on the calling thread (dispatch costs ~5-20 us)
# partials, gemv_tasks: gemv only; col_block, row_block: the columns and rows of one task (NC and MC, or
# fewer when that makes few tasks)
CTX_FIELDS = ("m", "n", "k", "a", "b", "c", "epilogue", "epilogue_ctx", "partials", "col_block", "gemv_tasks",
              "row_block")

INTEGER_FIELDS = ("col_block", "gemv_tasks", "row_block")
BAddress = Callable[[ir.Value, ir.Value], ir.Value]  # (k within block, column within task) -> pointer


def shared_gemm(module: ir.Module, ta: bool, tb: bool) -> ir.Function:
    """Define `graphc_gemm_<ta><tb>` (gemm.GEMM_TYPE: M, N, K, A, B, C, epilogue, its ctx) in `module`."""
    name = gemm_name(ta, tb)
    fn = ir.Function(module, GEMM_TYPE, name)
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    task = _task_function(module, name, ta, tb)
    skinny_task = gemm_skinny.emit_task(module, name, ta, tb, _fields)
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    ctx = bld.alloca(I64, size=len(CTX_FIELDS), name="ctx")
    for index, value in enumerate(fn.args):  # every field but the last
        stored = bld.ptrtoint(value, I64) if isinstance(value.type, ir.PointerType) else value
        bld.store(stored, element_ptr(bld, ctx, i64(index), I64))
    m_dim, n_dim, k_dim = fn.args[:3]
    work = bld.mul(bld.mul(m_dim, n_dim), k_dim)
    col_block = _column_block(bld, m_dim, n_dim)
    col_blocks = bld.sdiv(bld.add(n_dim, bld.sub(col_block, i64(1))), col_block)
    row_block = i64(MC) if ta or tb else _row_block(bld, m_dim, col_blocks)
    bld.store(col_block, element_ptr(bld, ctx, i64(CTX_FIELDS.index("col_block")), I64))
    bld.store(row_block, element_ptr(bld, ctx, i64(CTX_FIELDS.index("row_block")), I64))
    tiles = bld.mul(bld.sdiv(bld.add(m_dim, bld.sub(row_block, i64(1))), row_block), col_blocks)
    with bld.if_else(gemm_skinny.applies(bld, n_dim, k_dim)) as (skinny, other):
        with skinny:
            _run(bld, skinny_task, ctx, gemm_skinny.task_count(bld, m_dim), work)
        with other:
            if ta or tb:
                _run(bld, task, ctx, tiles, work)
            else:
                with bld.if_else(gemm_gemv.applies(bld, m_dim)) as (gemv, general):
                    with gemv:
                        gemm_gemv.emit(bld, module, name, ctx, _fields, _run, CTX_FIELDS.index("partials"),
                                       CTX_FIELDS.index("gemv_tasks"))
                    with general:
                        _run(bld, task, ctx, tiles, work)
    bld.ret_void()
    return fn


def _column_block(bld: ir.IRBuilder, m_dim: ir.Value, n_dim: ir.Value) -> ir.Value:
    """The columns of one task: NC, or when the MC x NC tasks are fewer than MIN_TASKS (a batch of
    64 rows times a 4608 x 128 weight is one), whole panels for about MIN_TASKS tasks, so both cores
    work. A column block never changes how an element of C is summed: any split gives the same bits."""
    row_blocks = ceil_div(bld, m_dim, MC)
    wanted = bld.sdiv(bld.add(i64(MIN_TASKS - 1), row_blocks), row_blocks)  # column tasks for MIN_TASKS
    narrow = round_up(bld, bld.sdiv(bld.add(n_dim, bld.sub(wanted, i64(1))), wanted), PANEL)
    narrow = smin(bld, i64(NC), bld.select(bld.icmp_signed("<", narrow, i64(PANEL)), i64(PANEL), narrow))
    few = bld.icmp_signed("<", bld.mul(row_blocks, ceil_div(bld, n_dim, NC)), i64(MIN_TASKS))
    return bld.select(few, narrow, i64(NC))


def _row_block(bld: ir.IRBuilder, m_dim: ir.Value, col_blocks: ir.Value) -> ir.Value:
    """The rows of one task when B is read in place (no packing to repeat per task): MC, or when that
    leaves fewer than MIN_TASKS tasks, about M / (MIN_TASKS / column blocks) rows rounded up to whole
    tiles (the tutorial CNN's Dense at batch 64: 36 + 28 rows x 2 column blocks), so that a core
    slowed by a neighbour's process leaves only a quarter of the product to wait for."""
    wanted = bld.sdiv(bld.add(i64(MIN_TASKS - 1), col_blocks), col_blocks)
    rows = round_up(bld, bld.sdiv(bld.add(m_dim, bld.sub(wanted, i64(1))), wanted), ROW_MULTIPLE)
    few = bld.icmp_signed("<", bld.mul(ceil_div(bld, m_dim, MC), col_blocks), i64(MIN_TASKS))
    return bld.select(few, smin(bld, rows, i64(MC)), i64(MC))


def _run(
    bld: ir.IRBuilder, task: ir.Function, ctx: ir.Value, tasks: ir.Value, work: ir.Value,
    inline_below: int = INLINE_WORK,
) -> None:
    """Tasks 0..tasks-1 on the pool, or on this thread when the product is too small to pay for dispatch."""
    with bld.if_else(bld.icmp_signed("<", work, i64(inline_below))) as (small, large):
        with small:
            with counted_loop(bld, tasks, name="t") as t:
                bld.call(task, [ctx, t])
        with large:
            parallel.parallel_for(bld, task, ctx, tasks)


def _fields(bld: ir.IRBuilder, ctx: ir.Value) -> dict[str, ir.Value]:
    """The GEMM's arguments, stored by shared_gemm as i64 in ctx, loaded back in a task."""
    fields = {}
    for index, name in enumerate(CTX_FIELDS):
        value = bld.load(element_ptr(bld, ctx, i64(index), I64), typ=I64)
        fields[name] = value if index < 3 or name in INTEGER_FIELDS else bld.inttoptr(value, PTR)
    return fields


@dataclass
class _Task:
    """The values one task works with."""

    bld: ir.IRBuilder
    ta: bool
    m: ir.Value
    n: ir.Value
    k: ir.Value
    a: ir.Value
    c: ir.Value
    epilogue: ir.Value
    epilogue_ctx: ir.Value
    c0: ir.Value          # first column of the task
    kc: ir.Value = None   # first depth index of the current block
    kb: ir.Value = None   # depth of the current block
    first: ir.Value = None
    last: ir.Value = None
    in_place: bool = False  # B read where it lies (its last vector masked), not from packed panels

    def a_ptr(self, row: ir.Value, k: ir.Value) -> ir.Value:
        b = self.bld
        depth = b.add(self.kc, k)
        offset = b.add(b.mul(depth, self.m), row) if self.ta else b.add(b.mul(row, self.k), depth)
        return element_ptr(b, self.a, offset)

    def c_ptr(self, row: ir.Value, col: ir.Value) -> ir.Value:
        b = self.bld
        return element_ptr(b, self.c, b.add(b.mul(row, self.n), b.add(self.c0, col)))


def _task_function(module: ir.Module, gemm_name: str, ta: bool, tb: bool) -> ir.Function:
    fn, bld = parallel.task_function(module, f"{gemm_name}_task")
    ctx, t = fn.args
    fields = _fields(bld, ctx)
    m_dim, n_dim, k_dim, b_src = fields["m"], fields["n"], fields["k"], fields["b"]
    col_block, row_block = fields["col_block"], fields["row_block"]
    col_blocks = bld.sdiv(bld.add(n_dim, bld.sub(col_block, i64(1))), col_block)
    r0 = bld.mul(bld.sdiv(t, col_blocks), row_block)
    c0 = bld.mul(bld.srem(t, col_blocks), col_block)
    r1 = smin(bld, m_dim, bld.add(r0, row_block))
    nc = smin(bld, col_block, bld.sub(n_dim, c0))
    task = _Task(bld, ta, m_dim, n_dim, k_dim, fields["a"], fields["c"], fields["epilogue"],
                 fields["epilogue_ctx"], c0)
    k_blocks = bld.select(bld.icmp_signed("<", k_dim, i64(1)), i64(1), ceil_div(bld, k_dim, KC))
    task.in_place = not ta and not tb
    scratch = None if task.in_place else parallel.scratch(bld, i64(KC * NC * 4))
    with counted_loop(bld, k_blocks, name="kblk") as kblk:
        _start_block(task, kblk, k_blocks)
        if not task.in_place:
            _pack(task, b_src, scratch, nc, tb)

        def packed(k: ir.Value, col: ir.Value) -> ir.Value:
            panel = bld.sdiv(col, i64(PANEL))
            start = bld.mul(panel, i64(PANEL))
            width = smin(bld, i64(PANEL), round_up(bld, bld.sub(nc, start), VEC))
            offset = bld.add(bld.mul(start, task.kb), bld.add(bld.mul(k, width), bld.sub(col, start)))
            return element_ptr(bld, scratch, offset)

        def in_place(k: ir.Value, col: ir.Value) -> ir.Value:
            return element_ptr(bld, b_src, bld.add(bld.mul(bld.add(task.kc, k), n_dim), bld.add(c0, col)))

        _block(task, in_place if task.in_place else packed, r0, r1, nc)
    bld.ret_void()
    return fn


def _start_block(task: _Task, kblk: ir.Value, k_blocks: ir.Value) -> None:
    """Depth block kblk of k_blocks equal ones (at most KC deep): K = 288 is 144 + 144, not 256 + 32,
    whose short second block would store and reload every tile for 32 steps. Block bounds never
    change an element's sum: C holds it between blocks and the next continues the fma chain."""
    bld = task.bld
    depth = bld.sdiv(bld.add(task.k, bld.sub(k_blocks, i64(1))), k_blocks)
    task.kc = bld.mul(kblk, depth)
    task.kb = smin(bld, depth, bld.sub(task.k, task.kc))
    task.first = bld.icmp_signed("==", kblk, i64(0))
    task.last = bld.icmp_signed("==", kblk, bld.sub(k_blocks, i64(1)))


def _pack(task: _Task, b: ir.Value, scratch: ir.Value, nc: ir.Value, tb: bool) -> None:
    """scratch <- B[kc:kc+kb, c0:c0+nc] as panels of 64 columns, each kb x width, zero-padded.

    B is read in the order its memory runs: row by row (depth outside, columns inside; 3-5%
    faster GEMMs at two threads than walking each column slab down the rows), or, when B is
    transposed, 16 of its rows side by side along the depth.
    """
    bld = task.bld
    if tb:
        with counted_loop(bld, round_up(bld, nc, VEC), step=VEC, name="pj") as j:
            with counted_loop(bld, task.kb, name="pk") as k:
                _pack_vector(task, b, scratch, nc, j, k, tb)
    else:
        with counted_loop(bld, task.kb, name="pk") as k:
            with counted_loop(bld, round_up(bld, nc, VEC), step=VEC, name="pj") as j:
                _pack_vector(task, b, scratch, nc, j, k, tb)


def _pack_vector(
    task: _Task, b: ir.Value, scratch: ir.Value, nc: ir.Value, j: ir.Value, k: ir.Value, tb: bool
) -> None:
    """Columns j..j+15 of depth k into their panel."""
    bld = task.bld
    start = bld.mul(bld.sdiv(j, i64(PANEL)), i64(PANEL))
    width = smin(bld, i64(PANEL), round_up(bld, bld.sub(nc, start), VEC))
    offset = bld.add(bld.add(bld.mul(start, task.kb), bld.sub(j, start)), bld.mul(k, width))
    dst = element_ptr(bld, scratch, offset)
    depth, col = bld.add(task.kc, k), bld.add(task.c0, j)
    if tb:
        _pack_transposed(task, b, dst, col, depth, smin(bld, i64(VEC), bld.sub(nc, j)))
    else:
        mask = bld.icmp_signed("<", LANES, splat(bld, bld.sub(nc, j), I64))
        src = element_ptr(bld, b, bld.add(bld.mul(depth, task.n), col))
        bld.store(vload(bld, src, mask), dst, align=4)


def _pack_transposed(
    task: _Task, b: ir.Value, dst: ir.Value, col: ir.Value, depth: ir.Value, valid: ir.Value
) -> None:
    """dst[0:16] = B[col:col+16, depth], zero past `valid` rows; unrolled, row indices clamped in bounds."""
    bld = task.bld
    last = bld.sub(valid, i64(1))
    vector = zero()
    for t in range(VEC):
        row = bld.add(col, smin(bld, i64(t), last))
        value = bld.load(element_ptr(bld, b, bld.add(bld.mul(row, task.k), depth)), typ=F32)
        value = bld.select(bld.icmp_signed("<", i64(t), valid), value, ir.Constant(F32, 0.0))
        vector = bld.insert_element(vector, value, ir.Constant(I32, t))
    bld.store(vector, dst, align=4)


def _block(task: _Task, b_at: BAddress, r0: ir.Value, r1: ir.Value, nc: ir.Value) -> None:
    """All tiles of one depth block: full panels with wide tiles, then the last partial panel (1 to
    63 columns): 12 x 32 tiles when it has two vectors (a convolution's 32 filters), else 12 x 16
    tiles vector by vector; its last vector masked."""
    bld = task.bld
    full = round_down(bld, nc, PANEL)
    with counted_loop(bld, full, step=PANEL, name="jp") as col:
        _rows(task, b_at, r0, r1, col, MR_WIDE, PANEL // VEC, None, i64(PANEL), TAIL_ROWS)
    rest = bld.sub(nc, full)
    pair = bld.icmp_signed("==", ceil_div(bld, rest, VEC), i64(2))
    with bld.if_else(pair) as (two, other):
        with two:
            mask = bld.icmp_signed("<", LANES, splat(bld, bld.sub(rest, i64(VEC)), I64))
            _rows(task, b_at, r0, r1, full, MR_NARROW, 2, mask, rest)
        with other:
            with counted_loop(bld, nc, start=full, step=VEC, name="jv") as col:
                width = smin(bld, i64(VEC), bld.sub(nc, col))
                mask = bld.icmp_signed("<", LANES, splat(bld, width, I64))
                _rows(task, b_at, r0, r1, col, MR_NARROW, 1, mask, width)


def _rows(
    task: _Task, b_at: BAddress, r0: ir.Value, r1: ir.Value, col: ir.Value, mr: int, nv: int,
    mask: ir.Value | None, width: ir.Value, tail: int | None = None,
) -> None:
    """Rows r0..r1 in tiles of mr rows, the rest in tiles of `tail` rows (if any) and then of one."""
    bld = task.bld
    start = r0
    for rows in (mr, 1) if tail is None else (mr, tail, 1):
        end = bld.add(start, round_down(bld, bld.sub(r1, start), rows))
        with counted_loop(bld, end, start=start, step=rows, name=f"i{rows}x{nv}") as row:
            _tile(task, b_at, row, rows, col, nv, mask, width)
        start = end


def _tile(
    task: _Task, b_at: BAddress, row: ir.Value, mr: int, col: ir.Value, nv: int, mask: ir.Value | None,
    width: ir.Value,
) -> None:
    """C[row:row+mr, col:col+16*nv] (+)= A-block @ B-block with mr*nv accumulators in registers; `mask`
    (if any) covers the columns of the last vector. B's packed panels are zero-padded to whole vectors;
    B read in place is loaded under the same mask, so no lane past column N is ever read."""
    bld = task.bld
    rows = [row if r == 0 else bld.add(row, i64(r)) for r in range(mr)]
    masks = [None] * (nv - 1) + [mask]
    c_ptrs = [[task.c_ptr(r, bld.add(col, i64(VEC * v))) for v in range(nv)] for r in rows]
    init = [bld.select(task.first, zero(), vload(bld, p, m))
            for ptrs in c_ptrs for p, m in zip(ptrs, masks, strict=True)]
    with loop_with_carry(bld, task.kb, init, name="k") as (k, acc, nxt, result):
        b_masks = masks if task.in_place else [None] * nv
        bvecs = [vload(bld, b_at(k, bld.add(col, i64(VEC * v))), b_masks[v]) for v in range(nv)]
        for r in range(mr):
            av = splat(bld, bld.load(task.a_ptr(rows[r], k), typ=F32), F32)
            for v in range(nv):
                nxt.append(fma(bld, av, bvecs[v], acc[r * nv + v]))
    for r in range(mr):
        for v in range(nv):
            vstore(bld, result[r * nv + v], c_ptrs[r][v], masks[v])
    col0 = bld.add(task.c0, col)
    call_epilogue(bld, task.epilogue, task.epilogue_ctx, task.last, row, i64(mr), col0, width)
