"""pool2d (max and average windows) and its gradient, channels innermost so the vector loops run
along C.

Both split their outer loop over the worker pool: the forward pass by output rows (each writes
its own outputs), the gradient by images, so the windows that overlap (strides below the pool
size) only ever add into one image from one task: no races, and the same sums in the same
order whatever the thread count. Positions in the padding are skipped; an average divides by
the number of positions inside the image, as TensorFlow does. An unpadded forward pool (every
window inside the image, Keras's 'valid') keeps each window's combination in a register per
vector of 16 channels and stores it once, in the same order as the general loops (4-5x faster
than reading and writing the output once per window position).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from llvmlite import ir

from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import (
    F32,
    I64,
    counted_loop,
    element_ptr,
    f32,
    i64,
    load_f32,
    store_f32,
    within,
)
from graphc.codegen.lowering.gemm_vec import LANES, VEC, splat, vload, vstore
from graphc.codegen.lowering.parallel_loops import Cut, split_range
from graphc.codegen.lowering.registry import kernel_lowering
from graphc.ir.affine import Sym
from graphc.ir.graph import Node
from graphc.ops.convolution import POOL2D, POOL2D_GRAD, Window


class _Pool:
    """A pooling node's sizes and the index arithmetic of its windows."""

    def __init__(self, node: Node) -> None:
        x = node.inputs[0]
        self.mode = node.attrs["mode"]
        self.window = Window(tuple(node.attrs["pool_size"]), tuple(node.attrs["strides"]), (1, 1),
                             tuple(tuple(p) for p in node.attrs["padding"]))
        self.images = Sym.dim(x.shape[0])  # N, or k * N for images folded from (N, k, H, W, C)
        self.height, self.width, self.channels = x.shape[1:]
        self.out_h, self.out_w = self.window.output(self.height, self.width)

    def origin(self, b: ir.IRBuilder, oy: ir.Value, ox: ir.Value) -> tuple[ir.Value, ir.Value]:
        """The image row and column of a window's first position (negative in the padding)."""
        (sh, sw), top, left = self.window.strides, self.window.padding[0][0], self.window.padding[1][0]
        return b.sub(b.mul(oy, i64(sh)), i64(top)), b.sub(b.mul(ox, i64(sw)), i64(left))

    def position(self, b: ir.IRBuilder, n: ir.Value, y: ir.Value, x: ir.Value) -> tuple[ir.Value, ir.Value]:
        """(inside, offset of the pixel's first channel): the offset is 0 outside the image."""
        inside = b.and_(within(b, y, i64(0), i64(self.height)), within(b, x, i64(0), i64(self.width)))
        pixel = b.add(b.mul(b.add(b.mul(n, i64(self.height)), y), i64(self.width)), x)
        return inside, b.select(inside, b.mul(pixel, i64(self.channels)), i64(0))

    def inverse_count(self, b: ir.IRBuilder, y0: ir.Value, x0: ir.Value) -> ir.Value:
        """1 / (the window's positions inside the image)."""
        kh, kw = self.window.size

        def inside(start: ir.Value, size: int, length: int) -> ir.Value:
            low = b.select(b.icmp_signed(">", start, i64(0)), start, i64(0))
            end = b.add(start, i64(size))
            high = b.select(b.icmp_signed("<", end, i64(length)), end, i64(length))
            return b.sub(high, low)

        count = b.mul(inside(y0, kh, self.height), inside(x0, kw, self.width))
        return b.fdiv(f32(1.0), b.sitofp(count, F32))

    def each_position(self, b: ir.IRBuilder, n: ir.Value, y0: ir.Value, x0: ir.Value,
                      visit: Callable[[ir.Value], None]) -> None:
        """visit(image_offset) for each window position inside the image, row-major."""
        kh, kw = self.window.size
        with counted_loop(b, i64(kh), name="a") as a:
            with counted_loop(b, i64(kw), name="q") as q:
                inside, at = self.position(b, n, b.add(y0, a), b.add(x0, q))
                with b.if_then(inside):
                    visit(at)


def combine_window(b: ir.IRBuilder, mode: str, values: list[ir.Value]) -> ir.Value:
    """A whole window's vectors (row-major) combined as the generic loop does: a max keeps the earlier
    value unless a later one is greater (starting from -inf); an average sums from 0 and scales by
    the f32 1/count. Shared with the convolutions that apply a fused pool (their tail) to their
    registers, so fused and unfused pools give the same bits."""
    if mode == "max":
        low = splat(b, f32(float("-inf")), F32)
        acc = b.select(b.fcmp_ordered(">", values[0], low), values[0], low)
        for value in values[1:]:
            acc = b.select(b.fcmp_ordered(">", value, acc), value, acc)
        return acc
    acc = b.fadd(splat(b, f32(0.0), F32), values[0])
    for value in values[1:]:
        acc = b.fadd(acc, value)
    inverse = float(np.float32(1.0) / np.float32(len(values)))  # the generic loop's f32 division
    return b.fmul(acc, splat(b, f32(inverse), F32))


UNROLLED_WINDOW = 25  # window positions up to which an unpadded pool keeps its window in registers


def _pool_rows_in_registers(pool: _Pool, x: Node, node: Node) -> Callable[[KernelContext, Cut], None]:
    """Output rows of an unpadded pool (every window inside the image): per output position and
    vector of 16 channels (the last one masked), the window's positions combined in a register in
    the generic loop's order (a max keeps the earlier value unless a later one is greater; an
    average sums, then scales by 1/count), stored once."""
    channels = pool.channels
    kh, kw = pool.window.size
    (sh, sw) = pool.window.strides
    vectors = -(-channels // VEC)
    last = channels - (vectors - 1) * VEC

    def rows(sub: KernelContext, cut: Cut) -> None:
        b = sub.builder
        source, out = sub.ptr(x), sub.ptr(node)
        mask = None if last == VEC else b.icmp_signed("<", LANES, splat(b, i64(last), I64))
        with cut.loop(b, name="row") as r:
            n, oy = b.sdiv(r, i64(pool.out_h)), b.srem(r, i64(pool.out_h))
            line = b.mul(b.add(b.mul(n, i64(pool.height)), b.mul(oy, i64(sh))), i64(pool.width * channels))
            with counted_loop(b, i64(pool.out_w), name="col") as ox:
                corner = b.add(line, b.mul(ox, i64(sw * channels)))
                out_at = b.mul(b.add(b.mul(r, i64(pool.out_w)), ox), i64(channels))
                for v in range(vectors):
                    m = mask if v == vectors - 1 else None
                    offsets = [(a * pool.width + q) * channels + v * VEC
                               for a in range(kh) for q in range(kw)]
                    values = [vload(b, element_ptr(b, source, b.add(corner, i64(k))), m) for k in offsets]
                    vstore(b, combine_window(b, pool.mode, values),
                           element_ptr(b, out, b.add(out_at, i64(v * VEC))), m)

    return rows


@kernel_lowering(POOL2D)
def _pool2d(ctx: KernelContext, node: Node) -> None:
    x = node.inputs[0]
    pool = _Pool(node)
    channels = pool.channels
    start = float("-inf") if pool.mode == "max" else 0.0
    kh, kw = pool.window.size
    if not any(p for pair in pool.window.padding for p in pair) and kh * kw <= UNROLLED_WINDOW:
        split_range(ctx, pool.images * pool.out_h, Sym(pool.out_w * channels * kh * kw),
                    _pool_rows_in_registers(pool, x, node))
        return

    def rows(sub: KernelContext, cut: Cut) -> None:
        b = sub.builder
        source, out = sub.ptr(x), sub.ptr(node)
        with cut.loop(b, name="row") as r:
            n, oy = b.sdiv(r, i64(pool.out_h)), b.srem(r, i64(pool.out_h))
            with counted_loop(b, i64(pool.out_w), name="col") as ox:
                y0, x0 = pool.origin(b, oy, ox)
                out_at = b.mul(b.add(b.mul(r, i64(pool.out_w)), ox), i64(channels))
                with counted_loop(b, i64(channels), name="init") as c:
                    store_f32(b, f32(start), out, b.add(out_at, c))

                def combine(at: ir.Value) -> None:
                    with counted_loop(b, i64(channels), name="c") as c:
                        acc, value = load_f32(b, out, b.add(out_at, c)), load_f32(b, source, b.add(at, c))
                        if pool.mode == "max":
                            result = b.select(b.fcmp_ordered(">", value, acc), value, acc)
                        else:
                            result = b.fadd(acc, value)
                        store_f32(b, result, out, b.add(out_at, c))

                pool.each_position(b, n, y0, x0, combine)
                if pool.mode == "avg":
                    scale = pool.inverse_count(b, y0, x0)
                    with counted_loop(b, i64(channels), name="scale") as c:
                        at = b.add(out_at, c)
                        store_f32(b, b.fmul(load_f32(b, out, at), scale), out, at)

    kh, kw = pool.window.size
    split_range(ctx, pool.images * pool.out_h, Sym(pool.out_w * channels * kh * kw), rows)


@kernel_lowering(POOL2D_GRAD)
def _pool2d_grad(ctx: KernelContext, node: Node) -> None:
    x, g = node.inputs
    pool = _Pool(node)
    channels = pool.channels
    image_size = pool.height * pool.width * channels

    def images(sub: KernelContext, cut: Cut) -> None:
        b = sub.builder
        source, grad, out = sub.ptr(x), sub.ptr(g), sub.ptr(node)
        with cut.loop(b, name="image") as n:
            with counted_loop(b, i64(image_size), name="zero") as k:
                store_f32(b, f32(0.0), out, b.add(b.mul(n, i64(image_size)), k))
            with counted_loop(b, i64(pool.out_h), name="oy") as oy:
                with counted_loop(b, i64(pool.out_w), name="ox") as ox:
                    y0, x0 = pool.origin(b, oy, ox)
                    out_row = b.add(b.mul(n, i64(pool.out_h)), oy)
                    g_at = b.mul(b.add(b.mul(out_row, i64(pool.out_w)), ox), i64(channels))
                    if pool.mode == "max":
                        _route_to_first_max(b, pool, n, y0, x0, source, grad, out, g_at)
                    else:
                        scale = pool.inverse_count(b, y0, x0)

                        def share(at: ir.Value) -> None:
                            with counted_loop(b, i64(channels), name="c") as c:
                                part = b.fmul(load_f32(b, grad, b.add(g_at, c)), scale)
                                target = b.add(at, c)
                                store_f32(b, b.fadd(load_f32(b, out, target), part), out, target)

                        pool.each_position(b, n, y0, x0, share)

    kh, kw = pool.window.size
    split_range(ctx, pool.images, Sym(image_size + pool.out_h * pool.out_w * channels * kh * kw), images)


def _route_to_first_max(b: ir.IRBuilder, pool: _Pool, n: ir.Value, y0: ir.Value, x0: ir.Value,
                        source: ir.Value, grad: ir.Value, out: ir.Value, g_at: ir.Value) -> None:
    """Per channel, the gradient goes to the window's first position holding its maximum.

    Two passes over the window, each a loop along C that vectorizes: the maxima into a row of
    C floats, then every position in order adds g where it holds the maximum and no earlier
    position did (a row of C flags)."""
    channels = pool.channels
    with b.goto_entry_block():
        peak = b.alloca(F32, size=channels, name="peak")
        taken = b.alloca(F32, size=channels, name="taken")
    with counted_loop(b, i64(channels), name="reset") as c:
        store_f32(b, f32(float("-inf")), peak, c)
        store_f32(b, f32(0.0), taken, c)

    def find(at: ir.Value) -> None:
        with counted_loop(b, i64(channels), name="c") as c:
            value, best = load_f32(b, source, b.add(at, c)), load_f32(b, peak, c)
            store_f32(b, b.select(b.fcmp_ordered(">", value, best), value, best), peak, c)

    def route(at: ir.Value) -> None:
        with counted_loop(b, i64(channels), name="c") as c:
            hit = b.fcmp_ordered("==", load_f32(b, source, b.add(at, c)), load_f32(b, peak, c))
            first = b.and_(hit, b.fcmp_ordered("==", load_f32(b, taken, c), f32(0.0)))
            target = b.add(at, c)
            share = b.select(first, load_f32(b, grad, b.add(g_at, c)), f32(0.0))
            store_f32(b, b.fadd(load_f32(b, out, target), share), out, target)
            store_f32(b, b.select(first, f32(1.0), load_f32(b, taken, c)), taken, c)

    pool.each_position(b, n, y0, x0, find)
    pool.each_position(b, n, y0, x0, route)
