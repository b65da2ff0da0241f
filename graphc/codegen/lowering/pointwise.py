"""One loop nest over an output shape whose body evaluates a small scalar expression tree.

A pointwise kernel is any group of SCALAR nodes with outputs of one shape (the iteration
space). Each node is placed in the iteration space by a map from its own axes to iteration
axes, and along each axis by an affine position (its index = scale * counter + shift); an
operand's placement follows from its consumer's and the consumer's access map (numpy
broadcasting, a transpose, one_hot's trailing axis, a slice's offsets and steps). Every memory
access and every index an op asks for is then an affine function of the loop counters: a
stride vector and a constant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from llvmlite import ir

from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import F32, constant, element_ptr, i64, intrinsic, llvm_type, within
from graphc.codegen.lowering import mathfns
from graphc.codegen.lowering.parallel_loops import Cut, product, split_range
from graphc.codegen.lowering.registry import Lowering, get_lowering
from graphc.ir.affine import ZERO, Sym, coalesce, contiguous_strides, unit_stride
from graphc.ir.graph import Node
from graphc.ir.types import is_batch
from graphc.ops.registry import OpDef, get_op
from graphc.passes.kernels import Kernel

Placement = tuple[int | None, ...]
Shift = tuple[int, ...]
Scale = tuple[int, ...]


def broadcast_access(node: Node, operand: int) -> Sequence[int]:
    """Numpy broadcasting: operand axes align with the node's trailing axes."""
    lead = node.type.rank - node.inputs[operand].type.rank
    return [lead + a for a in range(node.inputs[operand].type.rank)]


def is_immediate(node: Node) -> bool:
    """Values emitted inline instead of loaded (OpDef.inline: scalar constants, the batch size)."""
    return get_op(node.op).is_inline(node)


Base = tuple[Sym, ...]  # a constant element offset: a sum of terms coef * N**power


def base_offset(ctx: KernelContext, base: Base) -> ir.Value | None:
    value = None
    for term in base:
        term_value = ctx.sym(term)
        value = term_value if value is None else ctx.builder.add(value, term_value)
    return value


def _shifted(ctx: KernelContext, offset: ir.Value, base: Base) -> ir.Value:
    extra = base_offset(ctx, base)
    return offset if extra is None else ctx.builder.add(offset, extra)


@dataclass(frozen=True)
class Bound:
    """The position `offsets[stream] + base` along one axis must lie in [0, size)."""

    stream: int
    base: int
    size: int


Guard = tuple[Bound, ...]


@dataclass
class Load:
    """The operand's element at stream offset + base (a slice's window starts at base). Under a
    guard (a pad reading around its operand) a position outside the operand loads element 0
    instead, a value the pad then replaces: nothing outside a buffer is ever read."""

    node: Node
    stream: int
    base: Base = ()
    guard: Guard = ()

    def value(self, ctx: KernelContext, offsets: Sequence[ir.Value]) -> ir.Value:
        offset = _shifted(ctx, offsets[self.stream], self.base)
        if self.guard:
            offset = ctx.builder.select(_inside(ctx, offsets, self.guard), offset, i64(0))
        return load_value(ctx, self.node, offset)


def _inside(ctx: KernelContext, offsets: Sequence[ir.Value], guard: Guard) -> ir.Value:
    b = ctx.builder
    result = None
    for bound in guard:
        ok = within(b, b.add(offsets[bound.stream], i64(bound.base)), i64(0), i64(bound.size))
        result = ok if result is None else b.and_(result, ok)
    assert result is not None
    return result


@dataclass
class Immediate:
    node: Node


@dataclass
class Apply:
    node: Node
    op: OpDef
    lowering: Lowering | None
    args: list[Expr]
    streams: list[tuple[int, Base]] = field(default_factory=list)

    def emit(self, ctx: KernelContext, offsets: Sequence[ir.Value], args: list[ir.Value]) -> ir.Value:
        """The op's scalar rule, or its registered pointwise lowering."""
        indices = [_shifted(ctx, offsets[stream], base) for stream, base in self.streams]
        site = ScalarSite(ctx.builder, ctx.batch, indices)
        if self.lowering is None:
            return self.op.emit_scalar(site, self.node, args)
        return self.lowering.emit(site, self.node, args)


Expr = Load | Immediate | Apply


class PointwisePlan:
    """The expression DAG of a pointwise kernel and the stride vectors it addresses."""

    def __init__(self, kernel: Kernel) -> None:
        shape = kernel.outputs[0].shape
        for out in kernel.outputs:
            if out.shape != shape:
                raise ValueError(f"pointwise kernel outputs differ in shape: {out.shape} vs {shape}")
        self.kernel = kernel
        self.shape = shape
        self.streams: list[tuple[Sym, ...]] = []
        self._inside = set(kernel.nodes)
        self._memo: dict[tuple[Node, Placement, Shift, Scale, Guard], Expr] = {}
        identity: Placement = tuple(None if d == 1 else i for i, d in enumerate(shape))
        self.output_stream = self._stream(contiguous_strides(shape), identity)
        unit = (1,) * len(shape)
        self.roots = [self._expr(out, identity, (0,) * len(shape), unit, ()) for out in kernel.outputs]

    def loads(self) -> list[Load]:
        return [expr for expr in self._memo.values() if isinstance(expr, Load)]

    def aligned_inputs(self) -> set[Node]:
        """Kernel inputs read only at the element being written: safe to overwrite in place."""
        aligned: set[Node] = set()
        misaligned: set[Node] = set()
        for expr in self.loads():
            at_output = expr.stream == self.output_stream and not expr.base and not expr.guard
            (aligned if at_output else misaligned).add(expr.node)
        return aligned - misaligned

    def _stream(self, own_strides: Sequence[Sym], placement: Placement, scale: Scale | None = None) -> int:
        vector = [ZERO] * len(self.shape)
        for a, (stride, axis) in enumerate(zip(own_strides, placement, strict=True)):
            if axis is not None:
                vector[axis] = stride if scale is None else stride * scale[a]
        key = tuple(vector)
        if key not in self.streams:
            self.streams.append(key)
        return self.streams.index(key)

    def _expr(self, node: Node, placement: Placement, shift: Shift, scale: Scale, guard: Guard) -> Expr:
        """`node` at iteration-space positions `placement` (node axis -> loop axis), its own index
        along each axis `scale` * counter + `shift` (the window and steps a slice consumer reads),
        its loads kept inside their buffers by `guard` (positions a pad consumer reads around its
        operand)."""
        key = (node, placement, shift, scale, guard)
        if key in self._memo:
            return self._memo[key]
        expr: Expr
        if node not in self._inside:
            if is_immediate(node):
                expr = Immediate(node)
            else:
                strides = contiguous_strides(node.shape)
                expr = Load(node, self._stream(strides, placement, scale), shift_base(strides, shift), guard)
        else:
            op = get_op(node.op)
            lowering = None if op.scalar is not None else get_lowering(node.op)
            args = []
            for i, src in enumerate(node.inputs):
                access = (op.access or broadcast_access)(node, i)
                extra = op.offsets(node, i) if op.offsets is not None else (0,) * src.type.rank
                steps = op.scales(node, i) if op.scales is not None else (1,) * src.type.rank
                whole = [src.shape[a] == 1 for a in range(src.type.rank)]
                src_place = tuple(None if whole[a] else placement[access[a]] for a in range(src.type.rank))
                src_shift = tuple(0 if whole[a] else steps[a] * shift[access[a]] + extra[a]
                                  for a in range(src.type.rank))
                src_scale = tuple(1 if whole[a] else steps[a] * scale[access[a]]
                                  for a in range(src.type.rank))
                bounds = self._bounds(node, src, access, src_place, src_shift, src_scale)
                args.append(self._expr(src, src_place, src_shift, src_scale, guard + bounds))
            streams = [(self._stream(s, placement, scale), shift_base(s, shift))
                       for s in (op.index_streams or _none)(node)]
            expr = Apply(node, op, lowering, args, streams)
        self._memo[key] = expr
        return expr


    def _bounds(self, node: Node, src: Node, access: Sequence[int], place: Placement,
                shift: Shift, scale: Scale) -> Guard:
        """Bounds for the operand axes whose positions (shift + scale * i, i over the loop's extent)
        can leave the operand (a pad's)."""
        bounds = []
        rank = len(self.shape)
        for a, size in enumerate(src.shape):
            if is_batch(size) or size == 1:
                continue
            loop = None if place[a] is None else self.shape[place[a]]
            extent = loop if isinstance(loop, int) else node.shape[access[a]]
            last = shift[a] + scale[a] * (extent - 1)
            if 0 <= min(shift[a], last) and max(shift[a], last) < size:
                continue
            counter = (ZERO,) * rank if place[a] is None else unit_stride(rank, place[a])
            scaled = self._stream(counter, tuple(range(rank)), (scale[a],) * rank)
            bounds.append(Bound(scaled, shift[a], size))
        return tuple(bounds)


def _none(node: Node) -> list[tuple[Sym, ...]]:
    return []


def shift_base(strides: Sequence[Sym], shift: Shift) -> Base:
    """The constant offset of a shifted position, one term per power of N."""
    terms: dict[int, int] = {}
    for stride, step in zip(strides, shift, strict=True):
        if step:
            terms[stride.power] = terms.get(stride.power, 0) + stride.coef * step
    return tuple(Sym(coef, power) for power, coef in sorted(terms.items()) if coef)


_MATH = {"exp": mathfns.exp, "log": mathfns.log, "tanh": mathfns.tanh, "sigmoid": mathfns.sigmoid}
_INTRINSICS = {"sqrt": "llvm.sqrt.f32", "abs": "llvm.fabs.f32"}


@dataclass
class ScalarSite:
    """The scalar language of graphc.ops.scalar as LLVM IR: what an op's `scalar` rule (or a
    registered pointwise lowering) sees at one element: the builder, N, and its index streams."""

    builder: ir.IRBuilder
    batch_count: ir.Value
    indices: list[ir.Value]

    @property
    def module(self) -> ir.Module:
        return self.builder.module

    def index(self, k: int) -> ir.Value:
        return self.indices[k]

    def batch(self) -> ir.Value:
        return self.builder.sitofp(self.batch_count, F32)

    def constant(self, value: float | int, dtype: str) -> ir.Value:
        return constant(value, dtype)

    def _float(self, x: ir.Value) -> bool:
        return x.type == F32

    def add(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.builder.fadd(x, y) if self._float(x) else self.builder.add(x, y)

    def sub(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.builder.fsub(x, y) if self._float(x) else self.builder.sub(x, y)

    def mul(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.builder.fmul(x, y) if self._float(x) else self.builder.mul(x, y)

    def div(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.builder.fdiv(x, y)

    def neg(self, x: ir.Value) -> ir.Value:
        return self.builder.fneg(x)

    def _call(self, name: str, *args: ir.Value) -> ir.Value:
        return self.builder.call(intrinsic(self.module, name, F32, [F32] * len(args)), list(args))

    def math(self, fn: str, x: ir.Value) -> ir.Value:
        """exp/log/tanh/sigmoid are inline polynomials (mathfns.py) so their loops vectorize."""
        if fn in _MATH:
            return _MATH[fn](self.builder, x)
        return self._call(_INTRINSICS[fn], x)

    def maximum(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self._call("llvm.maximum.f32", x, y)

    def minimum(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self._call("llvm.minimum.f32", x, y)

    def compare(self, relation: str, x: ir.Value, y: ir.Value) -> ir.Value:
        if relation == "!=":
            return self.builder.fcmp_unordered("!=", x, y)
        return self.builder.fcmp_ordered(relation, x, y)

    def in_range(self, index: ir.Value, low: int, high: int) -> ir.Value:
        return within(self.builder, index, i64(low), i64(high))

    def both(self, p: ir.Value, q: ir.Value) -> ir.Value:
        return self.builder.and_(p, q)

    def where(self, predicate: ir.Value, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.builder.select(predicate, x, y)

    def mask(self, predicate: ir.Value) -> ir.Value:
        return self.builder.uitofp(predicate, F32)

    def cast(self, x: ir.Value, source: str, target: str) -> ir.Value:
        b = self.builder
        if source == target:
            return x
        to = llvm_type(target)
        if source == "float32":
            return b.fptosi(x, to)
        if target == "float32":
            return b.sitofp(x, to)
        return b.trunc(x, to) if x.type.width > to.width else b.sext(x, to)


def emit_pointwise(ctx: KernelContext, kernel: Kernel) -> None:
    """The nest, its outermost loop cut into tasks when the kernel is large (parallel_loops.py)."""
    plan = PointwisePlan(kernel)
    nest = coalesce([Sym.dim(d) for d in plan.shape], plan.streams)
    offsets: list[ir.Value] = [i64(0)] * len(plan.streams)
    if not nest.sizes:
        _body(ctx, plan, offsets)
        return

    def chunk(sub: KernelContext, cut: Cut) -> None:
        _nest(sub, plan, nest.sizes, nest.strides, 0, offsets, cut)

    split_range(ctx, nest.sizes[0], product(nest.sizes[1:]), chunk)


def _nest(
    ctx: KernelContext, plan: PointwisePlan, sizes: Sequence[Sym], strides: Sequence[Sequence[Sym]],
    level: int, offsets: list[ir.Value], outer: Cut,
) -> None:
    """Loops from `level` inward; the outermost runs over the range `outer`, the others fully."""
    builder = ctx.builder
    if level == len(sizes):
        _body(ctx, plan, offsets)
        return
    if level == 0:
        pieces = [outer]
    else:
        cuts = _window_edges(plan, sizes[level], strides, level)
        pieces = [Cut(i64(lo), i64(hi)) for lo, hi in zip(cuts, cuts[1:], strict=False)] if cuts else [
            Cut(i64(0), ctx.sym(sizes[level]))]
    for piece in pieces:
        with piece.loop(builder, name=f"p{level}") as index:
            _nest(ctx, plan, sizes, strides, level + 1, ctx.advance(offsets, strides, level, index), outer)


def _window_edges(plan: PointwisePlan, size: Sym, strides: Sequence[Sequence[Sym]], level: int) -> list[int]:
    """Loop partitioning: where the loads' guards (a pad reading around its operand) turn on or off
    along this loop, when they count along it alone, as [0, edges..., extent]; [] when none do.

    Each piece of the loop then has constant bounds within which every such guard (and the pad's own
    test of the same window) is constant, so LLVM folds the selects and drops the operands a piece
    never reads: a sum of pads (the gradient of the gates an LSTM step slices) computes each operand
    only over its own window instead of everywhere.
    """
    if size.power != 0:
        return []
    edges: set[int] = set()
    for expr in plan.loads():
        for bound in expr.guard:
            vector = strides[bound.stream]
            if vector[level].is_one and all(v.is_zero for i, v in enumerate(vector) if i != level):
                edges |= {-bound.base, bound.size - bound.base}
    inner = sorted(e for e in edges if 0 < e < size.coef)
    return [0, *inner, size.coef] if inner else []


def _body(ctx: KernelContext, plan: PointwisePlan, offsets: list[ir.Value]) -> None:
    values: dict[int, ir.Value] = {}

    def evaluate(expr: Expr) -> ir.Value:
        if id(expr) in values:
            return values[id(expr)]
        if isinstance(expr, Load):
            value = expr.value(ctx, offsets)
        elif isinstance(expr, Immediate):
            value = immediate(ctx, expr.node)
        else:
            value = expr.emit(ctx, offsets, [evaluate(a) for a in expr.args])
        values[id(expr)] = value
        return value

    # Every load precedes every store: an output may be written over an input in place.
    results = [evaluate(root) for root in plan.roots]
    for out, value in zip(plan.kernel.outputs, results, strict=True):
        store_value(ctx, out, offsets[plan.output_stream], value)


def load_value(ctx: KernelContext, node: Node, offset: ir.Value) -> ir.Value:
    """Element `offset` of node's buffer, in the node's own type (float32, int32 or int64)."""
    etype = llvm_type(node.type.dtype)
    return ctx.builder.load(element_ptr(ctx.builder, ctx.ptr(node), offset, etype), typ=etype)


def store_value(ctx: KernelContext, node: Node, offset: ir.Value, value: ir.Value) -> None:
    etype = llvm_type(node.type.dtype)
    ctx.builder.store(value, element_ptr(ctx.builder, ctx.ptr(node), offset, etype))


def immediate(ctx: KernelContext, node: Node) -> ir.Value:
    return get_op(node.op).emit_scalar(ScalarSite(ctx.builder, ctx.batch, []), node, [])


def emit_body(ctx: KernelContext, plan: PointwisePlan, offsets: list[ir.Value]) -> None:
    """One iteration at the given stream offsets, for loops built elsewhere (GEMM epilogues)."""
    _body(ctx, plan, offsets)
