"""conv2d computed directly from the image: register tiles over output positions and filters.

The im2col path (convolution.py) copies every window into a tile and multiplies it by the kernel
with the shared GEMM. Here the image is read in place: a register tile of R output positions
along one output row x up to 4 vectors of filters (R * vectors <= 24 accumulators: 12 x 2 for 32
filters, 6 x 4 for 64) runs over the taps (a, b, c); per tap it loads the filters' vectors (the
kernel is a (KH*KW*C) x F matrix) and broadcasts the R input values the tile's positions read.
That is the GEMM's register tile without the copy of the windows, without packing the kernel
per chunk and without storing and reloading the sums between depth blocks; with few input
channels (the first layer of an image model: K = 25 for the tutorial CNN's 5x5 on one channel)
the copy cost as much as the products. Every output element is summed over the taps in the
GEMM's order (a, b, c), one fma each, from zero: the same bits as the im2col path.

Used for every forward convolution with at most DIRECT_CHANNELS input channels, and for the
others whose output rows hold at least MIN_WIDTH positions and whose kernel fits MAX_KERNEL_BYTES.
The work is cut into items of `item_rows` output rows of one image (about ITEMS_PER_IMAGE per
image, so a single image keeps both cores busy), one pool task each (the split depends on shapes
alone, and an output's sums never depend on it). A padded convolution first copies the rows its
item reads into a zero-padded slab in the thread's private scratch, so the tiles never test a
bound; an unpadded one reads the image directly. The fused epilogue (bias, BatchNormalization,
activation) is applied to each register tile before it is stored when it is plain per-channel
arithmetic (Epilogue.vector), else it runs on each item's rows while they are in cache.

A fused 2x2 pool of stride 2 (Epilogue.tail) changes the unit of work from output positions to
pooled positions: a tile holds the four positions of each of up to 3 pooled positions (two output
rows, 2 x 6 positions x 2 vectors of filters: the same 24 accumulators), applies the chain to each
sum and stores the pool's combination (pooling.combine_window); items cut the pooled rows, and an
odd last output row or column, which the pool drops, is never computed.
"""

from __future__ import annotations

from typing import Any, Protocol

from llvmlite import ir

from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import F32, I64, counted_loop, element_ptr, f32, i64, loop_with_carry, store_f32
from graphc.codegen.lowering.gemm_vec import LANES, VEC, call_epilogue, fma, splat, vload, vstore, zero
from graphc.codegen.lowering.pooling import combine_window

DIRECT_CHANNELS = 4   # input channels up to which a convolution is always computed directly
MIN_WIDTH = 6         # else output rows this wide at least (a tile covers up to 12 positions of one row)
MAX_KERNEL_BYTES = 1 << 20  # and a kernel up to half the L2 (every tile streams all of it)
ACCUMULATORS = 24     # zmm registers of a tile's sums (of 32: the rest hold filters and a broadcast)
GROUP_VECTORS = 4     # filter vectors per tile at most (64 filters)
ITEMS_PER_IMAGE = 8   # about this many items per image, so that one image keeps both cores busy
CHANNEL_UNROLL = 8    # channels per step of the innermost loop
POOL = 2              # a fused pool's window (and stride) along each axis
POOLED_VECTORS = 2    # filter vectors per tile with a fused pool (4 positions per pooled position)


class DirectPlan:
    """The shapes of a direct convolution (geometry: convolution._Geometry of a forward conv2d), with a
    fused pool (`pool`: its mode) or without. Rows, columns and a tile's positions count the stored
    positions: pooled ones with a pool."""

    def __init__(self, geometry, pool: str | None = None) -> None:
        g = geometry
        self.g = g
        self.pool = pool
        self.factor = POOL if pool else 1
        self.out_h, self.out_w = g.out_h // self.factor, g.out_w // self.factor
        self.item_rows = -(-self.out_h // ITEMS_PER_IMAGE)
        self.items_per_image = -(-self.out_h // self.item_rows)
        (top, bottom), (left, right) = g.window.padding
        self.padded = bool(top or bottom or left or right)
        (sh, _), (dh, _) = g.window.strides, g.window.dilation
        self.slab_rows = (self.item_rows * self.factor - 1) * sh + (g.window.size[0] - 1) * dh + 1
        self.slab_width = g.width + left + right
        self.slab_floats = self.slab_rows * self.slab_width * g.channels if self.padded else 0
        spots = self.factor * self.factor  # sums per stored position
        self.groups = []  # (first filter, vectors, positions of a tile): a row of 32 is 11 + 11 + 10
        for first in range(0, g.filters, (POOLED_VECTORS if pool else GROUP_VECTORS) * VEC):
            vectors = min(POOLED_VECTORS if pool else GROUP_VECTORS, -(-(g.filters - first) // VEC))
            most = max(1, min(12, ACCUMULATORS // vectors) // spots)
            self.groups.append((first, vectors, -(-self.out_w // -(-self.out_w // most))))


def applies(geometry) -> bool:
    """Few input channels always; otherwise output rows of at least MIN_WIDTH positions (a tile's
    positions lie along one row) and a kernel that stays in L2 while the tiles stream it."""
    g = geometry
    if g.channels <= DIRECT_CHANNELS:
        return True
    return g.out_w >= MIN_WIDTH and 4 * g.depth * g.filters <= MAX_KERNEL_BYTES


def emit(ctx: KernelContext, plan: DirectPlan, image: ir.Value, kernel: ir.Value, out: ir.Value,
         item: ir.Value, slab: ir.Value | None, epilogue) -> None:
    """Item `item` (stored rows [oy0, oy0 + item_rows) of image n) into `out`, then its epilogue."""
    b = ctx.builder
    g = plan.g
    n = b.sdiv(item, i64(plan.items_per_image))
    oy0 = b.mul(b.srem(item, i64(plan.items_per_image)), i64(plan.item_rows))
    left_rows = b.sub(i64(plan.out_h), oy0)
    rows = b.select(b.icmp_signed("<", left_rows, i64(plan.item_rows)), left_rows, i64(plan.item_rows))
    (sh, _), (dh, _) = g.window.strides, g.window.dilation
    step = plan.factor * sh  # input rows from one stored row to the next
    top = g.window.padding[0][0]
    if plan.padded:
        left = g.window.padding[1][0]
        fill_slab(ctx, plan, image, slab, n, b.sub(b.mul(oy0, i64(step)), i64(top)), left)
        source, row_floats = slab, plan.slab_width * g.channels
    else:
        source = element_ptr(b, image, b.mul(n, i64(g.height * g.width * g.channels)))
        row_floats = g.width * g.channels
    first_row = b.mul(b.add(b.mul(n, i64(plan.out_h)), oy0), i64(plan.out_w))
    vector = None if epilogue is None else epilogue.vector  # the chain applied in registers
    with counted_loop(b, rows, name="oy") as r:
        # the slab's first row is the item's first input row; the image's is row 0
        y0 = b.mul(r, i64(step)) if plan.padded else b.mul(b.add(oy0, r), i64(step))
        line = element_ptr(b, source, b.mul(y0, i64(row_floats)))
        out_row = element_ptr(b, out, b.mul(b.add(first_row, b.mul(r, i64(plan.out_w))), i64(g.filters)))
        for first, vectors, positions in plan.groups:
            full = plan.out_w // positions * positions
            if full:
                with counted_loop(b, i64(full), step=positions, name="ox") as ox:
                    _tile(ctx, plan, line, row_floats, kernel, out_row, ox, positions, first, vectors, dh,
                          vector)
            if plan.out_w > full:
                _tile(ctx, plan, line, row_floats, kernel, out_row, i64(full), plan.out_w - full, first,
                      vectors, dh, vector)
    if epilogue is not None and vector is None:
        fields = epilogue.fields(ctx, first_row)
        call_epilogue(b, epilogue.function, fields, None, i64(0), b.mul(rows, i64(g.out_w)), i64(0),
                      i64(g.filters))


class SlabPlan(Protocol):
    """What filling a slab needs of a direct or Winograd plan."""

    g: Any  # convolution._Geometry
    slab_rows: int
    slab_width: int


def fill_slab(ctx: KernelContext, plan: SlabPlan, image: ir.Value, slab: ir.Value, n: ir.Value,
              y_first: ir.Value, left: int) -> None:
    """slab[s][u] = image[n, y_first + s, u - left] (all channels), zeros outside the image: the padded
    rows a direct or Winograd item reads (their plans give the slab's rows and width)."""
    b = ctx.builder
    g = plan.g
    c = g.channels
    width = plan.slab_width * c
    copied = min(g.width, plan.slab_width - left) * c  # columns of the image the slab reaches
    with counted_loop(b, i64(plan.slab_rows), name="slab") as s:
        y = b.add(y_first, s)
        inside = b.and_(b.icmp_signed(">=", y, i64(0)), b.icmp_signed("<", y, i64(g.height)))
        dst = element_ptr(b, slab, b.mul(s, i64(width)))
        with b.if_else(inside) as (copy, blank):
            with copy:
                src = element_ptr(b, image, b.mul(b.add(b.mul(n, i64(g.height)), y), i64(g.width * c)))
                with counted_loop(b, i64(left * c), name="zl") as k:
                    store_f32(b, f32(0.0), dst, k)
                with counted_loop(b, i64(copied), name="cp") as k:
                    store_f32(b, b.load(element_ptr(b, src, k), typ=F32), dst, b.add(k, i64(left * c)))
                with counted_loop(b, i64(width), start=i64(left * c + copied), name="zr") as k:
                    store_f32(b, f32(0.0), dst, k)
            with blank:
                with counted_loop(b, i64(width), name="zb") as k:
                    store_f32(b, f32(0.0), dst, k)


def _tile(ctx: KernelContext, plan: DirectPlan, line: ir.Value, row_floats: int, kernel: ir.Value,
          out_row: ir.Value, ox: ir.Value, positions: int, first: int, vectors: int, dh: int,
          vector=None) -> None:
    """out_row[ox:ox+positions, first:first+16*vectors] = the taps' sums, in registers (through the
    epilogue's chain first if it has a `vector` form); with a pool, each stored position is the
    combination of its window's four sums (row-major), each through the chain."""
    b = ctx.builder
    g = plan.g
    kh, kw = g.window.size
    (sh, sw), (_, dw) = g.window.strides, g.window.dilation
    c = g.channels
    last = min(VEC, g.filters - first - (vectors - 1) * VEC)
    mask = None if last == VEC else b.icmp_signed("<", LANES, splat(b, i64(last), I64))
    masks = [None] * (vectors - 1) + [mask]
    f = plan.factor
    at = b.mul(ox, i64(f * sw * c))  # the tile's first input position, in floats from the line's start
    # each sum's input offset from `at`: stored position p, window row dy and column dx
    spots = [dy * sh * row_floats + (f * p + dx) * sw * c
             for p in range(positions) for dy in range(f) for dx in range(f)]
    unroll = min(c, CHANNEL_UNROLL)
    blocks, rest = divmod(c, unroll)

    def channels(sums: list[ir.Value], pixel: ir.Value, w_rows: ir.Value, count: int) -> list[ir.Value]:
        """The taps of `count` consecutive channels: pixel and w_rows point at the first one."""
        sums = list(sums)
        for channel in range(count):
            w_row = element_ptr(b, w_rows, i64(channel * g.filters + first))
            filters = [vload(b, element_ptr(b, w_row, i64(VEC * v)), masks[v]) for v in range(vectors)]
            for p, spot in enumerate(spots):
                x = splat(b, b.load(element_ptr(b, pixel, i64(spot + channel)), typ=F32), F32)
                for v in range(vectors):
                    sums[p * vectors + v] = fma(b, x, filters[v], sums[p * vectors + v])
        return sums

    accumulators = [zero()] * (len(spots) * vectors)
    with loop_with_carry(b, i64(kh), accumulators, name="ka") as (a, acc_a, next_a, after_a):
        row = element_ptr(b, line, b.add(b.mul(a, i64(dh * row_floats)), at))
        with loop_with_carry(b, i64(kw), acc_a, name="kb") as (q, acc_b, next_b, after_b):
            pixel = element_ptr(b, row, b.mul(q, i64(dw * c)))
            w_tap = element_ptr(b, kernel, b.mul(b.add(b.mul(a, i64(kw)), q), i64(c * g.filters)))
            if blocks == 1:
                sums = channels(acc_b, pixel, w_tap, unroll)
            else:
                with loop_with_carry(b, i64(blocks), acc_b, name="kc") as (cb, acc_c, next_c, after_c):
                    start = b.mul(cb, i64(unroll))
                    next_c.extend(channels(acc_c, element_ptr(b, pixel, start),
                                           element_ptr(b, w_tap, b.mul(start, i64(g.filters))), unroll))
                sums = after_c
            if rest:
                done = i64(blocks * unroll)
                sums = channels(sums, element_ptr(b, pixel, done),
                                element_ptr(b, w_tap, b.mul(done, i64(g.filters))), rest)
            next_b.extend(sums)
        next_a.extend(after_b)
    window = f * f
    for p in range(positions):
        base = b.mul(b.add(ox, i64(p)), i64(g.filters))
        for v in range(vectors):
            column = i64(first + VEC * v)
            values = [after_a[(p * window + k) * vectors + v] for k in range(window)]
            if vector is not None:
                values = [vector(ctx, value, column, masks[v]) for value in values]
            value = combine_window(b, plan.pool, values) if plan.pool else values[0]
            vstore(b, value, element_ptr(b, out_row, b.add(base, column)), masks[v])
