"""Vector and index helpers shared by the GEMM paths (gemm_kernel.py, gemm_skinny.py, gemm_gemv.py)."""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen.llvm_util import F32, I1, I32, I64, PTR, VOID, IndirectCallee, i64, intrinsic

VEC = 16
V16 = ir.VectorType(F32, VEC)
MASK = ir.VectorType(I1, VEC)
LANES = ir.Constant(ir.VectorType(I64, VEC), list(range(VEC)))
LANES32 = ir.Constant(ir.VectorType(I32, VEC), list(range(VEC)))
EPILOGUE_TYPE = ir.FunctionType(VOID, [PTR, I64, I64, I64, I64])
TRANSPOSE_TYPE = ir.FunctionType(VOID, [PTR, I64, I64, I64, PTR, I64])
TRANSPOSE_NAME = "graphc_gemm_transpose16"


def ceil_div(bld: ir.IRBuilder, x: ir.Value, d: int) -> ir.Value:
    return bld.sdiv(bld.add(x, i64(d - 1)), i64(d))


def smin(bld: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return bld.select(bld.icmp_signed("<", x, y), x, y)


def round_down(bld: ir.IRBuilder, x: ir.Value, multiple: int) -> ir.Value:
    return bld.sub(x, bld.srem(x, i64(multiple)))


def round_up(bld: ir.IRBuilder, x: ir.Value, multiple: int) -> ir.Value:
    return round_down(bld, bld.add(x, i64(multiple - 1)), multiple)


class _Written(ir.Constant):
    """A vector constant written as one word (`zeroinitializer`, `poison`). Element by element, the zero
    accumulators and the splats were half of a convolution kernel's IR text, which llvmlite prints and
    LLVM parses on a first build's critical path. `elements` are what llvmlite checks a shuffle's
    mask against."""

    def __init__(self, vtype: ir.VectorType, word: str, elements: list[int] | None = None) -> None:
        super().__init__(vtype, elements)
        self.word = word

    def _get_reference(self) -> str:
        return self.word


_ZERO = _Written(V16, "zeroinitializer")
_SPLAT_MASK = _Written(ir.VectorType(I32, VEC), "zeroinitializer", [0] * VEC)


def zero() -> ir.Constant:
    return _ZERO


def splat(bld: ir.IRBuilder, value: ir.Value, etype: ir.Type) -> ir.Value:
    """Every lane `value` (its other lanes' inputs are poison: the mask reads lane 0 only)."""
    poison = _Written(ir.VectorType(etype, VEC), "poison")
    return bld.shuffle_vector(bld.insert_element(poison, value, ir.Constant(I32, 0)), poison, _SPLAT_MASK)


def lanes_below(bld: ir.IRBuilder, count: ir.Value) -> ir.Value:
    """The mask of lanes 0..count-1 (all off when count <= 0); compared in i32 to spare registers."""
    clamped = bld.select(bld.icmp_signed("<", count, i64(0)), i64(0), smin(bld, count, i64(VEC)))
    return bld.icmp_signed("<", LANES32, splat(bld, bld.trunc(clamped, I32), I32))


def vload(bld: ir.IRBuilder, ptr: ir.Value, mask: ir.Value | None) -> ir.Value:
    if mask is None:
        return bld.load(ptr, typ=V16, align=4)
    fn = intrinsic(bld.module, "llvm.masked.load.v16f32.p0", V16, [PTR, MASK, V16])
    return bld.call(fn, [ptr, mask, zero()])


def vstore(bld: ir.IRBuilder, value: ir.Value, ptr: ir.Value, mask: ir.Value | None) -> None:
    if mask is None:
        bld.store(value, ptr, align=4)
    else:
        fn = intrinsic(bld.module, "llvm.masked.store.v16f32.p0", VOID, [V16, PTR, MASK])
        bld.call(fn, [value, ptr, mask])


def fma(bld: ir.IRBuilder, a: ir.Value, b: ir.Value, c: ir.Value) -> ir.Value:
    return bld.call(intrinsic(bld.module, "llvm.fma.v16f32", V16, [V16, V16, V16]), [a, b, c])


def call_epilogue(
    bld: ir.IRBuilder, epilogue: ir.Value, epilogue_ctx: ir.Value, when: ir.Value | None,
    row0: ir.Value, rows: ir.Value, col0: ir.Value, cols: ir.Value,
) -> None:
    """epilogue(ctx, row0, rows, col0, cols) on a finished tile, if there is an epilogue (and `when`)."""
    wanted = bld.icmp_unsigned("!=", epilogue, ir.Constant(PTR, None))
    if when is not None:
        wanted = bld.and_(when, wanted)
    with bld.if_then(wanted, likely=False):
        bld.call(IndirectCallee(epilogue, EPILOGUE_TYPE), [epilogue_ctx, row0, rows, col0, cols])


def transpose16(vectors: list[ir.Value], bld: ir.IRBuilder) -> list[ir.Value]:
    """The 16x16 transpose of 16 vectors (out[c][r] = in[r][c]): 4 stages of 16 two-source shuffles.

    Stage p swaps bit p of the row index with bit p of the lane index.
    """
    rows = list(vectors)
    for p in range(4):
        bit = 1 << p
        nxt = list(rows)
        for r in range(VEC):
            if r & bit:
                continue
            low, high = rows[r], rows[r | bit]
            keep = [c if not c & bit else VEC + (c ^ bit) for c in range(VEC)]
            swap = [c ^ bit if not c & bit else VEC + c for c in range(VEC)]
            nxt[r] = bld.shuffle_vector(low, high, ir.Constant(ir.VectorType(I32, VEC), keep))
            nxt[r | bit] = bld.shuffle_vector(low, high, ir.Constant(ir.VectorType(I32, VEC), swap))
        rows = nxt
    return rows


def transpose_function(module: ir.Module) -> ir.Function:
    """`void transpose16(ptr src, i64 ld_src, i64 rows, i64 cols, ptr dst, i64 ld_dst)`.

    dst[c * ld_dst + r] = src[r * ld_src + c] for r < rows <= 16, c < cols <= 16; reads and
    writes nothing outside those elements. Out of line: one copy serves every caller.
    """
    existing = module.globals.get(TRANSPOSE_NAME)
    if existing is not None:
        return existing
    fn = ir.Function(module, TRANSPOSE_TYPE, TRANSPOSE_NAME)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    src, ld_src, rows, cols, dst, ld_dst = fn.args
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    col_mask = lanes_below(bld, cols)
    row_mask = lanes_below(bld, rows)
    loaded = []
    for r in range(VEC):
        mask = bld.and_(col_mask, splat(bld, bld.icmp_signed("<", i64(r), rows), I1))
        loaded.append(vload(bld, unchecked_ptr(bld, src, bld.mul(i64(r), ld_src)), mask))
    for c, vector in enumerate(transpose16(loaded, bld)):
        mask = bld.and_(row_mask, splat(bld, bld.icmp_signed("<", i64(c), cols), I1))
        vstore(bld, vector, unchecked_ptr(bld, dst, bld.mul(i64(c), ld_dst)), mask)
    bld.ret_void()
    return fn


def unchecked_ptr(bld: ir.IRBuilder, base: ir.Value, index: ir.Value) -> ir.Value:
    """An address that may lie past the data: only ever used under a mask that excludes it."""
    return bld.gep(base, [index], inbounds=False, source_etype=F32)


def reduce16(bld: ir.IRBuilder, vectors: list[ir.Value]) -> list[ir.Value]:
    """Horizontal sums of up to 16 vectors per output vector: lane l of out[q] sums vectors[16q + l].

    Each stage halves the lanes per source: it gathers the lower halves of every block of two
    operands into one vector, the upper halves into another, and adds them.
    """
    out = []
    for start in range(0, len(vectors), VEC):
        group = list(vectors[start:start + VEC]) + [zero()] * (VEC - len(vectors[start:start + VEC]))
        width = VEC
        while width > 1:
            half = width // 2
            blocks = VEC // width
            merged = []
            for i in range(0, len(group), 2):
                a, b = group[i], group[i + 1]
                low, high = [], []
                for p in range(VEC):
                    owner, within = divmod(p, half)
                    operand, block = divmod(owner, blocks)
                    src = operand * VEC + block * width + within
                    low.append(src)
                    high.append(src + half)
                shuffle_low = bld.shuffle_vector(a, b, ir.Constant(ir.VectorType(I32, VEC), low))
                shuffle_high = bld.shuffle_vector(a, b, ir.Constant(ir.VectorType(I32, VEC), high))
                merged.append(bld.fadd(shuffle_low, shuffle_high))
            group = merged
            width = half
        out.append(group[0])
    return out
