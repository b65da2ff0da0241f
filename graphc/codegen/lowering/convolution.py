"""conv2d and its two gradients as packed im2col tiles multiplied by the shared GEMM.

A forward conv2d takes one of three paths, chosen from its shapes: Winograd's F(2x2, 3x3)
(conv_winograd.py: 3x3 windows, unit strides and dilation, at least 16 input channels), a direct
convolution (conv_direct.py: register tiles read the image in place; every other forward
convolution with few input channels, or output rows of 6 positions or more and a kernel of at
most 1 MB, or any with a fused 2x2 pool), else the im2col GEMM below. The gradients always take
the im2col GEMM.

The output rows (n, i, j) of a convolution are contiguous in channels-last layout, and the
kernel (KH, KW, C, F) is a row-major (KH*KW*C) x F matrix. So a chunk of ROWS output rows is
one GEMM: the chunk's windows are copied into a tile (ROWS x KH*KW*C, in the kernel's private
scratch; positions in the padding are 0) and multiplied by the kernel straight into the output
rows. The whole im2col matrix never exists: a tile stays in L2. The forward pass and the filter
gradient run their chunks as tasks on the worker pool, each task with a tile of its own
(_run_chunks); the filter gradient multiplies each tile, transposed, by its output-gradient chunk
and sums the products per task, then the tasks' sums in task order. The input gradient multiplies
an output-gradient chunk by the kernel transposed into the tile and adds the tile back into the
windows it came from (col2im); its tasks take whole images, so overlapping windows never race.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from graphc.codegen import parallel
from graphc.codegen.context import KernelContext, load_fields, noalias_function, store_fields
from graphc.codegen.llvm_util import PTR, counted_loop, element_ptr, f32, i64, load_f32, store_f32, within
from graphc.codegen.lowering import conv_direct, conv_winograd
from graphc.codegen.lowering.epilogue_call import Epilogue
from graphc.codegen.lowering.gemm import declare_gemm
from graphc.codegen.lowering.registry import kernel_lowering
from graphc.ir.affine import Sym
from graphc.ir.graph import Node
from graphc.ops.convolution import CONV2D, CONV2D_FILTER_GRAD, CONV2D_INPUT_GRAD, Window

TILE_FLOATS = 1 << 16  # a tile of 256 KB stays in L2 beside the GEMM's packed panels
MAX_ROWS = 1024
ROW_ALIGN = 16  # chunks start on whole vectors (and 64-byte lines) of every output row block
TASKS = 8  # chunk c runs in task c % TASKS with a tile of its own: the same sums whatever the thread count


def rows_per_chunk(depth: int) -> int:
    """Output rows per GEMM: as many as fit a tile of `depth` columns, a multiple of ROW_ALIGN."""
    return max(ROW_ALIGN, min(MAX_ROWS, TILE_FLOATS // depth) // ROW_ALIGN * ROW_ALIGN)


class _Geometry:
    """A convolution's sizes: image (H, W, C), output (OH, OW), kernel window, depth K = KH*KW*C."""

    def __init__(self, image: Node, kernel_size: tuple[int, int], channels_out: int, node: Node) -> None:
        self.images = Sym.dim(image.shape[0])  # N, or k * N for images folded from (N, k, H, W, C)
        self.height, self.width, self.channels = image.shape[1:]
        self.window = Window(
            kernel_size,
            tuple(node.attrs["strides"]),
            tuple(node.attrs["dilation"]),
            tuple(tuple(p) for p in node.attrs["padding"]),
        )
        self.out_h, self.out_w = self.window.output(self.height, self.width)
        self.depth = kernel_size[0] * kernel_size[1] * self.channels
        self.filters = channels_out
        self.rows = rows_per_chunk(self.depth)

    def chunks(self, ctx: KernelContext, body: Callable[[ir.Value, ir.Value], None]) -> None:
        """body(first_row, row_count) for each chunk of the N*OH*OW output rows, in order."""
        b = ctx.builder
        total = ctx.sym(self.images * (self.out_h * self.out_w))
        with counted_loop(b, total, step=self.rows, name="chunk") as first:
            left = b.sub(total, first)
            count = b.select(b.icmp_signed("<", left, i64(self.rows)), left, i64(self.rows))
            body(first, count)

    def windows(
        self,
        ctx: KernelContext,
        first: ir.Value,
        count: ir.Value,
        visit: Callable[[ir.Value, ir.Value, ir.Value, int], None],
    ) -> None:
        """visit(tile_offset, image_offset, inside, length) over a chunk's windows: `length` floats
        that are contiguous in the tile and in the image (0 where inside is false). A window row that
        lies inside the image with undilated columns is one run of KW*C floats; elsewhere each
        position is a run of C."""
        b = ctx.builder
        kh, kw = self.window.size
        (sh, sw), (dh, dw) = self.window.strides, self.window.dilation
        top, left = self.window.padding[0][0], self.window.padding[1][0]
        channels = self.channels
        with counted_loop(b, count, name="row") as i:
            r = b.add(first, i)
            n = b.sdiv(r, i64(self.out_h * self.out_w))
            rest = b.srem(r, i64(self.out_h * self.out_w))
            y0 = b.sub(b.mul(b.sdiv(rest, i64(self.out_w)), i64(sh)), i64(top))
            x0 = b.sub(b.mul(b.srem(rest, i64(self.out_w)), i64(sw)), i64(left))
            row_at = b.mul(i, i64(self.depth))
            with counted_loop(b, i64(kh), name="a") as a:
                y = b.add(y0, b.mul(a, i64(dh)))
                y_inside = within(b, y, i64(0), i64(self.height))
                line = b.mul(b.add(b.mul(n, i64(self.height)), y), i64(self.width))
                line_at = b.add(row_at, b.mul(a, i64(kw * channels)))

                def positions() -> None:
                    with counted_loop(b, i64(kw), name="b") as q:
                        x = b.add(x0, b.mul(q, i64(dw)))
                        inside = b.and_(y_inside, within(b, x, i64(0), i64(self.width)))
                        image_at = b.select(inside, b.mul(b.add(line, x), i64(channels)), i64(0))
                        visit(b.add(line_at, b.mul(q, i64(channels))), image_at, inside, channels)

                if dw != 1 or kw == 1:
                    positions()
                else:
                    right = b.add(x0, i64(kw))
                    whole = b.and_(
                        y_inside,
                        b.and_(b.icmp_signed(">=", x0, i64(0)), b.icmp_signed("<=", right, i64(self.width))),
                    )
                    with b.if_else(whole) as (inside_image, at_edge):
                        with inside_image:
                            visit(line_at, b.mul(b.add(line, x0), i64(channels)), whole, kw * channels)
                        with at_edge:
                            positions()

    def fill(
        self, ctx: KernelContext, image: ir.Value, tile: ir.Value, first: ir.Value, count: ir.Value
    ) -> None:
        """The chunk's windows of the image into the tile, 0 for positions in the padding."""
        b = ctx.builder

        def copy(tile_at: ir.Value, image_at: ir.Value, inside: ir.Value, length: int) -> None:
            with counted_loop(b, i64(length), name="c") as c:
                value = load_f32(b, image, b.add(image_at, c))
                store_f32(b, b.select(inside, value, f32(0.0)), tile, b.add(tile_at, c))

        self.windows(ctx, first, count, copy)

    def spread(
        self, ctx: KernelContext, tile: ir.Value, image: ir.Value, first: ir.Value, count: ir.Value
    ) -> None:
        """The adjoint of fill: every tile element added to the image position it was read from."""
        b = ctx.builder

        def add(tile_at: ir.Value, image_at: ir.Value, inside: ir.Value, length: int) -> None:
            with b.if_then(inside):
                with counted_loop(b, i64(length), name="c") as c:
                    at = b.add(image_at, c)
                    total = b.fadd(load_f32(b, image, at), load_f32(b, tile, b.add(tile_at, c)))
                    store_f32(b, total, image, at)

        self.windows(ctx, first, count, add)


def _gemm(
    ctx: KernelContext,
    case: tuple[bool, bool],
    m: ir.Value,
    n: ir.Value,
    k: ir.Value,
    a: ir.Value,
    b: ir.Value,
    c: ir.Value,
    epilogue: ir.Value | None = None,
    fields: ir.Value | None = None,
) -> None:
    null = ir.Constant(PTR, None)
    ctx.builder.call(declare_gemm(ctx.module, *case), [m, n, k, a, b, c, epilogue or null, fields or null])


def _zero(ctx: KernelContext, buffer: ir.Value, count: ir.Value) -> None:
    with counted_loop(ctx.builder, count, name="zero") as i:
        store_f32(ctx.builder, f32(0.0), buffer, i)


def _rows_at(ctx: KernelContext, base: ir.Value, first: ir.Value, width: int) -> ir.Value:
    return element_ptr(ctx.builder, base, ctx.builder.mul(first, i64(width)))


def _forward_geometry(node: Node) -> _Geometry:
    x, w = node.inputs
    return _Geometry(x, tuple(w.shape[:2]), w.shape[3], node)


def _tile_floats(geometry: _Geometry) -> int:
    return geometry.rows * geometry.depth


ChunkBody = Callable[[KernelContext, ir.Value, ir.Value, ir.Value], None]


def _in_tasks(
    ctx: KernelContext,
    area_floats: int,
    items: Callable[[KernelContext], ir.Value],
    body: Callable[[KernelContext, ir.Value, ir.Value], None],
) -> None:
    """body(context, area, item) for item in [0, items) as TASKS tasks on the worker pool: item i in
    task i % TASKS, with the task's own `area_floats` of the scratch and its GEMMs on its thread.
    The split depends on the shapes alone, so every thread count computes the same sums."""
    name = ctx.builder.function.name
    part, sub, (t,), buffers = noalias_function(ctx, f"{name}_part", 1)
    sb = sub.builder
    area = element_ptr(sb, sub.scratch, sb.mul(t, i64(area_floats)))
    with counted_loop(sb, items(sub), start=t, step=TASKS, name="item") as item:
        body(sub, area, item)
    sb.ret_void()
    _launch(ctx, part, buffers, i64(TASKS))


def _each_item(
    ctx: KernelContext,
    area_floats: int,
    items: Callable[[KernelContext], ir.Value],
    body: Callable[[KernelContext, ir.Value | None, ir.Value], None],
) -> None:
    """body(context, area, item) for item in [0, items), one pool task per item, `area` the running
    thread's private scratch (parallel.scratch) of `area_floats`. Items are small (a few rows of an
    image), so a core slowed by another process leaves little for the other to wait for; which
    thread computes an item never changes its sums."""
    name = ctx.builder.function.name
    part, sub, (t,), buffers = noalias_function(ctx, f"{name}_item", 1)
    sb = sub.builder
    area = parallel.scratch(sb, i64(4 * area_floats)) if area_floats else None
    body(sub, area, t)
    sb.ret_void()
    _launch(ctx, part, buffers, items(ctx))


def _launch(ctx: KernelContext, part: ir.Function, buffers: list[ir.Value], count: ir.Value) -> None:
    """Run part(batch, task, *buffers) as `count` pool tasks from the kernel being emitted."""
    task, tb = parallel.task_function(ctx.module, f"{ctx.builder.function.name}_task")
    batch, pointers = load_fields(tb, task.args[0], len(buffers))
    tb.call(part, [batch, task.args[1], *pointers])
    tb.ret_void()
    b = ctx.builder
    parallel.parallel_for(b, task, store_fields(b, ctx.batch, buffers, "tasks_ctx"), count)


def _run_chunks(ctx: KernelContext, geometry: _Geometry, area_floats: int, body: ChunkBody) -> None:
    """body(context, area, first_row, row_count) for every chunk of output rows: in tasks (_in_tasks)
    when there are two chunks or more, else here in the first area, its GEMM spread over the pool."""
    b = ctx.builder

    def count(kctx: KernelContext) -> ir.Value:
        total = kctx.sym(geometry.images * (geometry.out_h * geometry.out_w))
        return kctx.builder.sdiv(kctx.builder.add(total, i64(geometry.rows - 1)), i64(geometry.rows))

    def chunk(kctx: KernelContext, area: ir.Value, c: ir.Value) -> None:
        kb = kctx.builder
        first = kb.mul(c, i64(geometry.rows))
        left = kb.sub(kctx.sym(geometry.images * (geometry.out_h * geometry.out_w)), first)
        body(
            kctx,
            area,
            first,
            kb.select(kb.icmp_signed("<", left, i64(geometry.rows)), left, i64(geometry.rows)),
        )

    with b.if_else(b.icmp_signed(">=", count(ctx), i64(2))) as (in_tasks, here):
        with in_tasks:
            _in_tasks(ctx, area_floats, count, chunk)
        with here:
            geometry.chunks(ctx, lambda first, rows: body(ctx, ctx.scratch, first, rows))


def _conv2d_forward(ctx: KernelContext, node: Node, epilogue: Epilogue | None) -> None:
    """With a fused pool (epilogue.tail) only the Winograd and direct kernels apply: their register
    tiles hold whole pool windows, where the im2col GEMM's tiles are rows of the matrix."""
    x, w = node.inputs
    geometry = _forward_geometry(node)
    home = node if epilogue is None else epilogue.c_home
    pool = None if epilogue is None or epilogue.tail is None else epilogue.tail.attrs["mode"]
    if conv_winograd.applies(geometry):
        wino = conv_winograd.WinogradPlan(geometry, pool)
        conv_winograd.emit_weights(ctx, wino, ctx.ptr(w), ctx.scratch)

        def tiles(kctx: KernelContext, area: ir.Value, index: ir.Value) -> None:
            conv_winograd.emit_item(kctx, wino, kctx.ptr(x), kctx.scratch, kctx.ptr(home), index, area,
                                    epilogue)

        items = geometry.images * wino.items_per_image
        _each_item(ctx, wino.area_floats, lambda kctx: kctx.sym(items), tiles)
        return
    if pool or conv_direct.applies(geometry):
        plan = conv_direct.DirectPlan(geometry, pool)

        def item(kctx: KernelContext, slab: ir.Value | None, index: ir.Value) -> None:
            conv_direct.emit(kctx, plan, kctx.ptr(x), kctx.ptr(w), kctx.ptr(home), index, slab, epilogue)

        _each_item(ctx, plan.slab_floats, lambda kctx: kctx.sym(geometry.images * plan.items_per_image), item)
        return

    def chunk(kctx: KernelContext, tile: ir.Value, first: ir.Value, count: ir.Value) -> None:
        geometry.fill(kctx, kctx.ptr(x), tile, first, count)
        function = None if epilogue is None else epilogue.function
        fields = None if epilogue is None else epilogue.fields(kctx, first)
        _gemm(
            kctx,
            (False, False),
            count,
            i64(geometry.filters),
            i64(geometry.depth),
            tile,
            kctx.ptr(w),
            _rows_at(kctx, kctx.ptr(home), first, geometry.filters),
            function,
            fields,
        )

    _run_chunks(ctx, geometry, _tile_floats(geometry), chunk)


def _forward_scratch_floats(node: Node) -> int:
    geometry = _forward_geometry(node)
    if conv_winograd.applies(geometry):
        return conv_winograd.WinogradPlan(geometry).u_floats  # the items' areas are thread-private
    if conv_direct.applies(geometry):
        return 0
    return TASKS * _tile_floats(geometry)


@kernel_lowering(
    CONV2D,
    scratch_bytes=lambda node: 4 * _forward_scratch_floats(node),
    shared=lambda node: (False, False),
    epilogue=_conv2d_forward,
)
def _conv2d(ctx: KernelContext, node: Node) -> None:
    _conv2d_forward(ctx, node, None)


def _input_grad_geometry(node: Node) -> _Geometry:
    g, w = node.inputs
    return _Geometry(node, tuple(w.shape[:2]), w.shape[3], node)


@kernel_lowering(
    CONV2D_INPUT_GRAD,
    scratch_bytes=lambda node: 4 * TASKS * _tile_floats(_input_grad_geometry(node)),
    shared=lambda node: (False, True),
)
def _conv2d_input_grad(ctx: KernelContext, node: Node) -> None:
    """Images are split over the tasks, so the windows a task adds back never reach another task's
    image; within an image its chunks run in order (every element receives its rows in row order,
    whatever the split)."""
    g, w = node.inputs
    geometry = _input_grad_geometry(node)
    b = ctx.builder
    image_floats = geometry.height * geometry.width * geometry.channels
    _zero(ctx, ctx.ptr(node), ctx.sym(geometry.images * image_floats))

    def rows(kctx: KernelContext, tile: ir.Value, first: ir.Value, count: ir.Value) -> None:
        _gemm(
            kctx,
            (False, True),
            count,
            i64(geometry.depth),
            i64(geometry.filters),
            _rows_at(kctx, kctx.ptr(g), first, geometry.filters),
            kctx.ptr(w),
            tile,
        )
        geometry.spread(kctx, tile, kctx.ptr(node), first, count)

    def image(kctx: KernelContext, tile: ir.Value, n: ir.Value) -> None:
        kb = kctx.builder
        per_image = geometry.out_h * geometry.out_w
        with counted_loop(kb, i64(per_image), step=geometry.rows, name="part") as start:
            left = kb.sub(i64(per_image), start)
            count = kb.select(kb.icmp_signed("<", left, i64(geometry.rows)), left, i64(geometry.rows))
            rows(kctx, tile, kb.add(kb.mul(n, i64(per_image)), start), count)

    with b.if_else(b.icmp_signed(">=", ctx.sym(geometry.images), i64(2))) as (in_tasks, here):
        with in_tasks:
            _in_tasks(ctx, _tile_floats(geometry), lambda kctx: kctx.sym(geometry.images), image)
        with here:
            geometry.chunks(ctx, lambda first, count: rows(ctx, ctx.scratch, first, count))


def _filter_grad_geometry(node: Node) -> _Geometry:
    x, g = node.inputs
    return _Geometry(x, tuple(node.attrs["kernel_size"]), g.shape[3], node)


def _filter_grad_area(geometry: _Geometry) -> int:
    """A task's floats: its tile, a product of the GEMM, and its running sum."""
    return _tile_floats(geometry) + 2 * geometry.depth * geometry.filters


@kernel_lowering(
    CONV2D_FILTER_GRAD,
    scratch_bytes=lambda node: 4 * TASKS * _filter_grad_area(_filter_grad_geometry(node)),
    shared=lambda node: (True, False),
)
def _conv2d_filter_grad(ctx: KernelContext, node: Node) -> None:
    """Each task sums the products of its chunks; the tasks' sums are then added in task order."""
    x, g = node.inputs
    geometry = _filter_grad_geometry(node)
    b = ctx.builder
    size = geometry.depth * geometry.filters
    area = _filter_grad_area(geometry)
    tile = _tile_floats(geometry)
    for t in range(TASKS):
        _zero(ctx, element_ptr(b, ctx.scratch, i64(t * area + tile + size)), i64(size))

    def chunk(kctx: KernelContext, base: ir.Value, first: ir.Value, count: ir.Value) -> None:
        kb = kctx.builder
        product, total = element_ptr(kb, base, i64(tile)), element_ptr(kb, base, i64(tile + size))
        geometry.fill(kctx, kctx.ptr(x), base, first, count)
        _gemm(
            kctx,
            (True, False),
            i64(geometry.depth),
            i64(geometry.filters),
            count,
            base,
            _rows_at(kctx, kctx.ptr(g), first, geometry.filters),
            product,
        )
        with counted_loop(kb, i64(size), name="sum") as k:
            store_f32(kb, kb.fadd(load_f32(kb, total, k), load_f32(kb, product, k)), total, k)

    _run_chunks(ctx, geometry, area, chunk)
    with counted_loop(b, i64(size), name="tasks_sum") as k:
        value = f32(0.0)
        for t in range(TASKS):
            value = b.fadd(value, load_f32(b, ctx.scratch, b.add(k, i64(t * area + tile + size))))
        store_f32(b, value, ctx.ptr(node), k)
