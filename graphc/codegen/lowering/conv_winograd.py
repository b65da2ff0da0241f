"""conv2d with 3x3 windows, unit strides and dilation, many channels: Winograd's F(2x2, 3x3).

Each 2x2 block of outputs (a tile) of one filter is A^T [U . V] A over 4x4 points xi, where
V = B^T d B transforms the tile's 4x4 input patch d and U = G g G^T the 3x3 kernel g. Summed over
the C input channels, that is 16 products (one per xi) of a (tiles x C) matrix V[xi] by a (C x F)
matrix U[xi]: 16 multiply-adds per tile, channel and filter where the direct sum takes 36, so the
CIFAR-style CNN's 3x3 layers (32 and 64 filters on 32 channels) do 2.25x fewer of them. The
transforms' coefficients are 0, +-1 and +-1/2, so the result differs from the direct sum by a few
units in the last place (as the GEMM's and numpy's orders of summation differ).

U is computed once per call, vectorized over filters, into the kernel's scratch (transforming
the constant weight again on every call costs about as much as one item, and nothing derived
from a weight outlives the call). The rest is cut into items of `tile_rows` rows of tiles of one
image (about ITEMS_PER_IMAGE per image), one pool task each (the split depends on shapes alone,
and no tile's sums depend on it). An item copies the input rows it reads into a zero-padded slab
in the thread's private scratch (the padding, and the row or column a tile reaches past an odd
output size), transforms each tile into
V (vectors of 16 channels: adds and subtracts), multiplies V[xi] by U[xi] with the direct
convolution's register tile (positions = tiles, taps = channels), and transforms each tile's 16
products back into its 2x2 outputs, applying the fused epilogue to them in registers when it is
plain per-channel arithmetic (Epilogue.vector), else running it on the item's output rows.

A tile's 2x2 outputs are exactly the window of a 2x2 pool of stride 2, so a fused pool
(Epilogue.tail) takes the tile's four values through the chain and stores their combination
(pooling.combine_window): one pooled position per tile, and the tiles of an odd last output row
or column, which the pool drops, are not computed.
"""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import F32, I64, counted_loop, element_ptr, f32, i64, loop_with_carry
from graphc.codegen.lowering.conv_direct import fill_slab
from graphc.codegen.lowering.gemm_vec import LANES, VEC, call_epilogue, fma, splat, vload, vstore, zero
from graphc.codegen.lowering.pooling import combine_window

MIN_CHANNELS = 16      # below, the 16 products are too shallow (K = C) to pay for the transforms
MAX_WEIGHTS = 1 << 14  # C * F up to this (U is 16 * C * F floats: 1 MB)
MIN_WIDTH = 4          # output rows of at least this many positions
ITEMS_PER_IMAGE = 8
ACCUMULATORS = 24
GROUP_VECTORS = 4
POINTS = 16


def applies(geometry) -> bool:
    g = geometry
    w = g.window
    return (w.size == (3, 3) and w.strides == (1, 1) and w.dilation == (1, 1) and g.channels >= MIN_CHANNELS
            and g.channels * g.filters <= MAX_WEIGHTS and g.out_w >= MIN_WIDTH)


class WinogradPlan:
    """The shapes of a Winograd convolution (geometry: convolution._Geometry of a forward conv2d), with
    a fused 2x2 pool (`pool`: its mode; only whole tiles then) or without."""

    def __init__(self, geometry, pool: str | None = None) -> None:
        g = geometry
        self.g = g
        self.pool = pool
        if pool:
            self.tiles_h, self.tiles_w = g.out_h // 2, g.out_w // 2
        else:
            self.tiles_h, self.tiles_w = -(-g.out_h // 2), -(-g.out_w // 2)
        self.tile_rows = -(-self.tiles_h // ITEMS_PER_IMAGE)
        self.items_per_image = -(-self.tiles_h // self.tile_rows)
        self.tiles = self.tile_rows * self.tiles_w  # tiles of a full item
        self.slab_rows = 2 * self.tile_rows + 2
        self.slab_width = 2 * self.tiles_w + 2
        self.slab_floats = self.slab_rows * self.slab_width * g.channels
        self.v_floats = POINTS * self.tiles * g.channels
        self.m_floats = POINTS * self.tiles * g.filters
        self.area_floats = self.slab_floats + self.v_floats + self.m_floats
        self.u_floats = POINTS * g.channels * g.filters
        self.groups = []  # (first filter, vectors, tiles of a register tile): T = 32 is 11 + 11 + 10
        for first in range(0, g.filters, GROUP_VECTORS * VEC):
            vectors = min(GROUP_VECTORS, -(-(g.filters - first) // VEC))
            most = min(12, ACCUMULATORS // vectors)
            self.groups.append((first, vectors, -(-self.tiles // -(-self.tiles // most))))


def _mask(b: ir.IRBuilder, count: int) -> ir.Value | None:
    return None if count >= VEC else b.icmp_signed("<", LANES, splat(b, i64(count), I64))


def _input_transform(b: ir.IRBuilder, d: list[list[ir.Value]]) -> list[ir.Value]:
    """V = B^T d B for a 4x4 patch d[row][column] of vectors, B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],
    [0,1,0,-1]]; V[xi] for xi = 4 * row + column."""
    def apply(p: list[ir.Value]) -> list[ir.Value]:
        return [b.fsub(p[0], p[2]), b.fadd(p[1], p[2]), b.fsub(p[2], p[1]), b.fsub(p[1], p[3])]

    by_column = [apply([d[row][col] for row in range(4)]) for col in range(4)]  # [col][row] of B^T d
    return [value for row in range(4) for value in apply([by_column[col][row] for col in range(4)])]


def emit_weights(ctx: KernelContext, plan: WinogradPlan, kernel: ir.Value, u: ir.Value) -> None:
    """U[xi][c][f] = (G g G^T)[xi] for the (3, 3, C, F) kernel, by vectors of 16 filters."""
    b = ctx.builder
    g = plan.g
    c_count, f_count = g.channels, g.filters
    half = splat(b, f32(0.5), F32)
    vectors = -(-f_count // VEC)
    with counted_loop(b, i64(c_count), name="uc") as c:
        for v in range(vectors):
            mask = _mask(b, f_count - v * VEC)
            taps = [[vload(b, element_ptr(b, kernel, _at(b, (a * 3 + q) * c_count, c, f_count, v * VEC)),
                           mask) for q in range(3)] for a in range(3)]

            def apply(r: list[ir.Value]) -> list[ir.Value]:  # G = [[1,0,0],[.5,.5,.5],[.5,-.5,.5],[0,0,1]]
                total = b.fadd(r[0], r[2])
                return [r[0], b.fmul(b.fadd(total, r[1]), half), b.fmul(b.fsub(total, r[1]), half), r[2]]

            by_column = [apply([taps[a][q] for a in range(3)]) for q in range(3)]  # [q][row] of G g
            for row in range(4):
                for col, value in enumerate(apply([by_column[q][row] for q in range(3)])):
                    at = _at(b, (row * 4 + col) * c_count, c, f_count, v * VEC)
                    vstore(b, value, element_ptr(b, u, at), mask)


def _at(b: ir.IRBuilder, outer: int, index: ir.Value, stride: int, offset: int) -> ir.Value:
    """(outer + index) * stride + offset."""
    return b.add(b.mul(b.add(i64(outer), index), i64(stride)), i64(offset))


def emit_item(ctx: KernelContext, plan: WinogradPlan, image: ir.Value, u: ir.Value, out: ir.Value,
              item: ir.Value, area: ir.Value, epilogue) -> None:
    """Item `item`: output rows [2 * ti0, 2 * (ti0 + tile_rows)) of image n, then its epilogue."""
    b = ctx.builder
    g = plan.g
    n = b.sdiv(item, i64(plan.items_per_image))
    ti0 = b.mul(b.srem(item, i64(plan.items_per_image)), i64(plan.tile_rows))
    slab = area
    v_area = element_ptr(b, area, i64(plan.slab_floats))
    m_area = element_ptr(b, area, i64(plan.slab_floats + plan.v_floats))
    top, left = g.window.padding[0][0], g.window.padding[1][0]
    fill_slab(ctx, plan, image, slab, n, b.sub(b.mul(ti0, i64(2)), i64(top)), left)
    _transform_inputs(ctx, plan, slab, v_area)
    for first, vectors, positions in plan.groups:
        with counted_loop(b, i64(POINTS), name="xi") as xi:
            v_point = element_ptr(b, v_area, b.mul(xi, i64(plan.tiles * g.channels)))
            u_point = element_ptr(b, u, b.mul(xi, i64(g.channels * g.filters)))
            m_point = element_ptr(b, m_area, b.mul(xi, i64(plan.tiles * g.filters)))
            full = plan.tiles // positions * positions
            if full:
                with counted_loop(b, i64(full), step=positions, name="tt") as t:
                    _products(ctx, plan, v_point, u_point, m_point, t, positions, first, vectors)
            if plan.tiles > full:
                _products(ctx, plan, v_point, u_point, m_point, i64(full), plan.tiles - full, first, vectors)
    vector = None if epilogue is None else epilogue.vector  # the chain applied in registers
    if plan.pool:
        tiles_left = b.sub(i64(plan.tiles_h), ti0)
        most = i64(plan.tile_rows)
        tile_rows = b.select(b.icmp_signed("<", tiles_left, most), tiles_left, most)
        first = b.mul(b.add(b.mul(n, i64(plan.tiles_h)), ti0), i64(plan.tiles_w))
        _pool_outputs(ctx, plan, m_area, element_ptr(b, out, b.mul(first, i64(g.filters))), tile_rows, vector)
        return
    rows_left = b.sub(i64(g.out_h), b.mul(ti0, i64(2)))
    full_rows = i64(2 * plan.tile_rows)
    rows = b.select(b.icmp_signed("<", rows_left, full_rows), rows_left, full_rows)
    first_row = b.mul(b.add(b.mul(n, i64(g.out_h)), b.mul(ti0, i64(2))), i64(g.out_w))
    _transform_outputs(ctx, plan, m_area, element_ptr(b, out, b.mul(first_row, i64(g.filters))), rows, vector)
    if epilogue is not None and vector is None:
        fields = epilogue.fields(ctx, first_row)
        call_epilogue(b, epilogue.function, fields, None, i64(0), b.mul(rows, i64(g.out_w)), i64(0),
                      i64(g.filters))


def _transform_inputs(ctx: KernelContext, plan: WinogradPlan, slab: ir.Value, v_area: ir.Value) -> None:
    """V[xi][t][c] for every tile t = (row, column) of the item, by vectors of 16 channels."""
    b = ctx.builder
    g = plan.g
    c = g.channels
    vectors = -(-c // VEC)
    row_floats = plan.slab_width * c
    with counted_loop(b, i64(plan.tile_rows), name="vr") as tr:
        with counted_loop(b, i64(plan.tiles_w), name="vc") as tc:
            corner = b.add(b.mul(b.mul(tr, i64(2)), i64(row_floats)), b.mul(tc, i64(2 * c)))
            tile = b.add(b.mul(tr, i64(plan.tiles_w)), tc)
            for v in range(vectors):
                mask = _mask(b, c - v * VEC)
                d = [[vload(b, element_ptr(b, slab, b.add(corner, i64(a * row_floats + q * c + v * VEC))),
                            mask) for q in range(4)] for a in range(4)]
                for xi, value in enumerate(_input_transform(b, d)):
                    vstore(b, value, element_ptr(b, v_area, _at(b, xi * plan.tiles, tile, c, v * VEC)), mask)


def _products(ctx: KernelContext, plan: WinogradPlan, v_point: ir.Value, u_point: ir.Value,
              m_point: ir.Value, t0: ir.Value, positions: int, first: int, vectors: int) -> None:
    """M[xi][t0:t0+positions][first:first+16*vectors] = V[xi] @ U[xi], summed over the channels in
    registers."""
    b = ctx.builder
    g = plan.g
    c, f = g.channels, g.filters
    last = min(VEC, f - first - (vectors - 1) * VEC)
    masks = [None] * (vectors - 1) + [_mask(b, last)]
    rows = [element_ptr(b, v_point, b.mul(b.add(t0, i64(p)), i64(c))) for p in range(positions)]
    unroll = 4 if c % 4 == 0 else 1
    init = [zero()] * (positions * vectors)
    with loop_with_carry(b, i64(c // unroll), init, name="wc") as (cb, acc, nxt, out):
        sums = list(acc)
        for k in range(unroll):
            channel = b.add(b.mul(cb, i64(unroll)), i64(k))
            u_row = element_ptr(b, u_point, b.add(b.mul(channel, i64(f)), i64(first)))
            weights = [vload(b, element_ptr(b, u_row, i64(VEC * v)), masks[v]) for v in range(vectors)]
            for p in range(positions):
                x = splat(b, b.load(element_ptr(b, rows[p], channel), typ=F32), F32)
                for v in range(vectors):
                    sums[p * vectors + v] = fma(b, x, weights[v], sums[p * vectors + v])
        nxt.extend(sums)
    for p in range(positions):
        base = b.mul(b.add(t0, i64(p)), i64(f))
        for v in range(vectors):
            at = b.add(base, i64(first + VEC * v))
            vstore(b, out[p * vectors + v], element_ptr(b, m_point, at), masks[v])


def _output_rows(b: ir.IRBuilder, m: list[ir.Value]) -> tuple[list[ir.Value], list[ir.Value]]:
    """A^T M by columns of a tile's 16 products: its top and bottom rows, before A."""
    top = [b.fadd(b.fadd(m[col], m[4 + col]), m[8 + col]) for col in range(4)]
    bottom = [b.fsub(b.fsub(m[4 + col], m[8 + col]), m[12 + col]) for col in range(4)]
    return top, bottom


def _left(b: ir.IRBuilder, r: list[ir.Value]) -> ir.Value:
    return b.fadd(b.fadd(r[0], r[1]), r[2])


def _right(b: ir.IRBuilder, r: list[ir.Value]) -> ir.Value:
    return b.fsub(b.fsub(r[1], r[2]), r[3])


def _pool_outputs(ctx: KernelContext, plan: WinogradPlan, m_area: ir.Value, out: ir.Value,
                  tile_rows: ir.Value, vector) -> None:
    """out[tr, tc] = the pool of tile (tr, tc)'s four outputs (row-major), each through the chain,
    for the item's first `tile_rows` rows of tiles."""
    b = ctx.builder
    f = plan.g.filters
    with counted_loop(b, tile_rows, name="pr") as tr:
        with counted_loop(b, i64(plan.tiles_w), name="pc") as tc:
            tile = b.add(b.mul(tr, i64(plan.tiles_w)), tc)
            for v in range(-(-f // VEC)):
                mask = _mask(b, f - v * VEC)
                m = [vload(b, element_ptr(b, m_area, _at(b, xi * plan.tiles, tile, f, v * VEC)), mask)
                     for xi in range(POINTS)]
                top, bottom = _output_rows(b, m)
                values = [_left(b, top), _right(b, top), _left(b, bottom), _right(b, bottom)]
                values = [vector(ctx, value, i64(v * VEC), mask) for value in values]
                at = element_ptr(b, out, _at(b, 0, tile, f, v * VEC))
                vstore(b, combine_window(b, plan.pool, values), at, mask)


def _transform_outputs(ctx: KernelContext, plan: WinogradPlan, m_area: ir.Value, out: ir.Value,
                       rows: ir.Value, vector=None) -> None:
    """out[2*tr + dy, 2*tc + dx] = (A^T M A)[dy][dx] for the tiles' outputs inside the image
    (rows: the item's output rows), A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]."""
    b = ctx.builder
    g = plan.g
    f = g.filters
    with counted_loop(b, i64(plan.tile_rows), name="yr") as tr:
        y = b.mul(tr, i64(2))
        with b.if_then(b.icmp_signed("<", y, rows)):
            second_row = b.icmp_signed("<", b.add(y, i64(1)), rows)
            with counted_loop(b, i64(plan.tiles_w), name="yc") as tc:
                tile = b.add(b.mul(tr, i64(plan.tiles_w)), tc)
                x = b.mul(tc, i64(2))
                second_column = b.icmp_signed("<", b.add(x, i64(1)), i64(g.out_w)) if g.out_w % 2 else None
                for v in range(-(-f // VEC)):
                    mask = _mask(b, f - v * VEC)
                    m = [vload(b, element_ptr(b, m_area, _at(b, xi * plan.tiles, tile, f, v * VEC)), mask)
                         for xi in range(POINTS)]
                    top, bottom = _output_rows(b, m)
                    at = b.add(b.mul(b.add(b.mul(y, i64(g.out_w)), x), i64(f)), i64(v * VEC))
                    def finish(value: ir.Value, v: int = v, mask: ir.Value | None = mask) -> ir.Value:
                        return value if vector is None else vector(ctx, value, i64(v * VEC), mask)

                    _store_pair(b, out, at, top, f, mask, second_column, finish)
                    with b.if_then(second_row):
                        below = b.add(at, i64(g.out_w * f))
                        _store_pair(b, out, below, bottom, f, mask, second_column, finish)


def _store_pair(b: ir.IRBuilder, out: ir.Value, at: ir.Value, r: list[ir.Value], f: int,
                mask: ir.Value | None, second_column: ir.Value | None, finish) -> None:
    """One output row of a tile (A^T applied to its columns): the left value at `at`, the right one a
    position (f floats) further if that position is inside the image; each through `finish`."""
    vstore(b, finish(_left(b, r)), element_ptr(b, out, at), mask)
    right = finish(_right(b, r))
    if second_column is None:
        vstore(b, right, element_ptr(b, out, b.add(at, i64(f))), mask)
    else:
        with b.if_then(second_column):
            vstore(b, right, element_ptr(b, out, b.add(at, i64(f))), mask)
