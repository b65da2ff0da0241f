"""matmul: a cache-blocked GEMM on explicit 16-wide float vectors, all four transpose cases.

C (M x N) = op(A) @ op(B). Columns are split in blocks of NC and the depth in blocks of
KC so a B block stays in L2; inside a block, tiles of MR rows x (NV*16) columns keep their
accumulators in vector registers over the depth loop, broadcasting one element of A per
row and loading contiguous 16-column vectors of B. The column tail uses masked loads and
stores. With transpose_b, each B block is first packed into scratch as KC x NC rows so the
inner loop still reads contiguous columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llvmlite import ir

from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import (
    F32,
    I1,
    I32,
    I64,
    PTR,
    VOID,
    counted_loop,
    element_ptr,
    i64,
    intrinsic,
    loop_with_carry,
)
from graphc.codegen.lowering.registry import kernel_lowering
from graphc.ir.graph import Node

VEC = 16
MR = 4
NV = 4
KC = 256
NC = 256
V16 = ir.VectorType(F32, VEC)
MASK = ir.VectorType(I1, VEC)

Offset = Callable[[ir.Value, ir.Value], ir.Value]


def _scratch_bytes(node: Node) -> int:
    return KC * NC * 4 if node.attrs["transpose_b"] else 0


@dataclass
class _Block:
    """Addressing of one (column block, depth block) step."""

    a: ir.Value
    a_off: Offset          # (row, k) -> element offset in a
    b: ir.Value
    b_off: Offset          # (k, column) -> element offset in b
    c: ir.Value
    ldc: ir.Value
    k0: ir.Value
    kb: ir.Value
    first: ir.Value        # i1: this is the first depth block, so C starts from zero


@kernel_lowering("matmul", scratch_bytes=_scratch_bytes)
def _matmul(ctx: KernelContext, node: Node) -> None:
    """A call to the module's shared GEMM for this transpose case, with the extents as arguments."""
    a_node, b_node = node.inputs
    ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]
    k = a_node.shape[0] if ta else a_node.shape[1]
    extents = [ctx.dim(node.shape[0]), ctx.dim(node.shape[1]), ctx.dim(k)]
    scratch = ctx.scratch if tb else ir.Constant(PTR, None)
    pointers = [ctx.ptr(a_node), ctx.ptr(b_node), ctx.ptr(node), scratch]
    ctx.builder.call(_shared_gemm(ctx.module, ta, tb), extents + pointers)


def _shared_gemm(module: ir.Module, ta: bool, tb: bool) -> ir.Function:
    """`void gemm(i64 M, i64 N, i64 K, ptr A, ptr B, ptr C, ptr scratch)`, emitted once per module.

    Kept out of line: one copy per transpose case instead of one per matmul node keeps
    compile time flat in the number of layers.
    """
    name = f"graphc_gemm_{'t' if ta else 'n'}{'t' if tb else 'n'}"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    fn = ir.Function(module, ir.FunctionType(VOID, [I64, I64, I64, PTR, PTR, PTR, PTR]), name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    for param in fn.args[3:]:
        param.add_attribute("noalias")
    m_dim, n_dim, k_dim, a, b, c, scratch = fn.args
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    _emit_gemm(bld, ta, tb, m_dim, n_dim, k_dim, a, b, c, scratch)
    bld.ret_void()
    return fn


def _emit_gemm(
    bld: ir.IRBuilder, ta: bool, tb: bool, m_dim: ir.Value, n_dim: ir.Value, k_dim: ir.Value,
    a: ir.Value, b: ir.Value, c: ir.Value, scratch: ir.Value,
) -> None:

    def a_off(row: ir.Value, k: ir.Value) -> ir.Value:
        return bld.add(bld.mul(k, m_dim), row) if ta else bld.add(bld.mul(row, k_dim), k)

    with counted_loop(bld, n_dim, step=NC, name="jc") as jc:
        nc = _min(bld, i64(NC), bld.sub(n_dim, jc))
        with counted_loop(bld, k_dim, step=KC, name="kc") as kc:
            kb = _min(bld, i64(KC), bld.sub(k_dim, kc))
            if tb:
                _pack_transposed(bld, b, scratch, k_dim, jc, nc, kc, kb)

                def b_off(k: ir.Value, col: ir.Value, kc: ir.Value = kc, jc: ir.Value = jc,
                          nc: ir.Value = nc) -> ir.Value:
                    return bld.add(bld.mul(bld.sub(k, kc), nc), bld.sub(col, jc))

                b_base = scratch
            else:

                def b_off(k: ir.Value, col: ir.Value) -> ir.Value:
                    return bld.add(bld.mul(k, n_dim), col)

                b_base = b
            first = bld.icmp_signed("==", kc, i64(0))
            block = _Block(a, a_off, b_base, b_off, c, n_dim, kc, kb, first)
            _rows(bld, block, m_dim, jc, nc)


def _min(bld: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return bld.select(bld.icmp_signed("<", x, y), x, y)


def _round_down(bld: ir.IRBuilder, x: ir.Value, multiple: int) -> ir.Value:
    return bld.sub(x, bld.urem(x, i64(multiple)))


def _pack_transposed(
    bld: ir.IRBuilder, b: ir.Value, scratch: ir.Value, k_dim: ir.Value, jc: ir.Value, nc: ir.Value,
    kc: ir.Value, kb: ir.Value,
) -> None:
    """scratch[kk, jj] = B[jc + jj, kc + kk] for the block, rows of length nc.

    Strips of 16 rows of B are walked together so reads stay in 16 streaming cache lines
    and writes are contiguous 16-float runs.
    """
    full = _round_down(bld, nc, VEC)
    with counted_loop(bld, full, step=VEC, name="pj") as j0:
        _pack_strip(bld, b, scratch, k_dim, jc, nc, kc, kb, j0, i64(VEC))
    with bld.if_then(bld.icmp_signed("<", full, nc)):
        _pack_strip(bld, b, scratch, k_dim, jc, nc, kc, kb, full, bld.sub(nc, full))


def _pack_strip(
    bld: ir.IRBuilder, b: ir.Value, scratch: ir.Value, k_dim: ir.Value, jc: ir.Value, nc: ir.Value,
    kc: ir.Value, kb: ir.Value, j0: ir.Value, width: ir.Value,
) -> None:
    src = bld.add(bld.mul(bld.add(jc, j0), k_dim), kc)
    with counted_loop(bld, kb, name="pk") as kk:
        dst = bld.add(bld.mul(kk, nc), j0)
        row = bld.add(src, kk)
        with counted_loop(bld, width, name="pt") as t:
            value = bld.load(element_ptr(bld, b, bld.add(row, bld.mul(t, k_dim))), typ=F32)
            bld.store(value, element_ptr(bld, scratch, bld.add(dst, t)))


def _rows(bld: ir.IRBuilder, blk: _Block, m_dim: ir.Value, jc: ir.Value, nc: ir.Value) -> None:
    m_full = _round_down(bld, m_dim, MR)
    with counted_loop(bld, m_full, step=MR, name="i") as i:
        _columns(bld, blk, i, MR, jc, nc)
    with counted_loop(bld, m_dim, start=m_full, name="ir") as i:
        _columns(bld, blk, i, 1, jc, nc)


def _columns(bld: ir.IRBuilder, blk: _Block, row: ir.Value, mr: int, jc: ir.Value, nc: ir.Value) -> None:
    end = bld.add(jc, nc)
    wide_end = bld.add(jc, _round_down(bld, nc, NV * VEC))
    vec_end = bld.add(jc, _round_down(bld, nc, VEC))
    with counted_loop(bld, wide_end, start=jc, step=NV * VEC, name="jw") as j:
        _tile(bld, blk, row, mr, j, NV, None)
    with counted_loop(bld, vec_end, start=wide_end, step=VEC, name="jv") as j:
        _tile(bld, blk, row, mr, j, 1, None)
    rest = bld.sub(end, vec_end)
    with bld.if_then(bld.icmp_signed(">", rest, i64(0))):
        lanes = ir.Constant(ir.VectorType(I64, VEC), list(range(VEC)))
        mask = bld.icmp_signed("<", lanes, _splat(bld, rest, I64))
        _tile(bld, blk, row, mr, vec_end, 1, mask)


def _splat(bld: ir.IRBuilder, value: ir.Value, etype: ir.Type) -> ir.Value:
    vtype = ir.VectorType(etype, VEC)
    one = bld.insert_element(ir.Constant(vtype, None), value, ir.Constant(I32, 0))
    return bld.shuffle_vector(one, ir.Constant(vtype, None), ir.Constant(ir.VectorType(I32, VEC), [0] * VEC))


def _load(bld: ir.IRBuilder, base: ir.Value, offset: ir.Value, mask: ir.Value | None) -> ir.Value:
    ptr = element_ptr(bld, base, offset)
    if mask is None:
        return bld.load(ptr, typ=V16, align=4)
    fn = intrinsic(bld.module, "llvm.masked.load.v16f32.p0", V16, [PTR, MASK, V16])
    return bld.call(fn, [ptr, mask, ir.Constant(V16, None)])


def _store(
    bld: ir.IRBuilder, value: ir.Value, base: ir.Value, offset: ir.Value, mask: ir.Value | None
) -> None:
    ptr = element_ptr(bld, base, offset)
    if mask is None:
        bld.store(value, ptr, align=4)
    else:
        fn = intrinsic(bld.module, "llvm.masked.store.v16f32.p0", VOID, [V16, PTR, MASK])
        bld.call(fn, [value, ptr, mask])


def _tile(
    bld: ir.IRBuilder, blk: _Block, row: ir.Value, mr: int, col: ir.Value, nv: int, mask: ir.Value | None
) -> None:
    """C[row:row+mr, col:col+16*nv] (+)= A[rows, k-block] @ B[k-block, cols], accumulated in registers."""
    rows = [row if r == 0 else bld.add(row, i64(r)) for r in range(mr)]
    cols = [col if v == 0 else bld.add(col, i64(VEC * v)) for v in range(nv)]
    c_offs = [[bld.add(bld.mul(r, blk.ldc), cv) for cv in cols] for r in rows]
    zero = ir.Constant(V16, [0.0] * VEC)
    init = [bld.select(blk.first, zero, _load(bld, blk.c, off, mask)) for offs in c_offs for off in offs]
    fma = intrinsic(bld.module, "llvm.fma.v16f32", V16, [V16, V16, V16])
    k_end = bld.add(blk.k0, blk.kb)
    with loop_with_carry(bld, k_end, init, start=blk.k0, name="k") as (k, acc, nxt, result):
        bvecs = [_load(bld, blk.b, blk.b_off(k, cv), mask) for cv in cols]
        for r in range(mr):
            a = bld.load(element_ptr(bld, blk.a, blk.a_off(rows[r], k)), typ=F32)
            av = _splat(bld, a, F32)
            for v in range(nv):
                nxt.append(bld.call(fma, [av, bvecs[v], acc[r * nv + v]]))
    for r in range(mr):
        for v in range(nv):
            _store(bld, result[r * nv + v], blk.c, c_offs[r][v], mask)


