"""recurrence (the time loop of SimpleRNN, LSTM and GRU cells) and recurrence_grad (its backward pass).

The steps of a sample depend on each other, so the work that can run side by side is the samples:
tasks take whole samples (split_range over N), run their steps in order and write only their own
rows. Every value comes from the same code in the same order whichever task or group computes
it, so results are bit-identical for every thread count (and a sample's for every batch size).

Within a step the time goes to the recurrent product with u (H, G*H): a vector-matrix product
per sample, which streams all of u (from L2 once it outgrows L1) to do one multiply-add per
element. So a task runs its samples in groups of GROUP, step by step side by side, and each
vector of u loaded serves the whole group. The products are explicit 16-wide vectors: the
forward pass keeps blocks of columns in registers over the whole depth (one fma chain per
element, k increasing); the backward pass reads u's rows as dot products along their contiguous
columns (16 partial sums per row, then a fixed shuffle tree). Both orders depend on the shapes
alone, not on the group.

The per-unit cell math is plain scalar loops over one sample's units, vectorized by LLVM, with
the activations of mathfns.py (the pointwise ops' polynomials, so a cell agrees with the same
layer built from pointwise ops). States, gate sums and the gradients the products read live in
private stack rows, so those loops read and write distinct objects (no run-time overlap checks)
and a group's missing samples read zeros, not another task's memory. The backward pass needs no
pre-activations: every activation's derivative follows from its saved value.

With an initial state a group copies its members' rows of h0 (and c0) into their state rows
before the first step (a missing sample keeps zeros and reads nothing), the backward pass reads
them as the first step's h_prev (c_prev), and once a group's steps are done it writes the
gradients left in its dh (dc) rows, those of the initial state, into row T of its samples.

With recurrent dropout a group copies its members' rows of rmask once into a private row (zeros
for missing samples) and multiplies h_prev by it where the cell does: forward, every step first
makes the group's h * rmask, the row the products (and a GRU's blend) read; backward, the steps
gather what reaches h_prev * rmask in a row of their own, which the products add to and which
then reaches dh times rmask, beside what a masked step passes on unmasked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from llvmlite import ir

from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import (
    F32,
    I32,
    counted_loop,
    element_ptr,
    f32,
    i64,
    intrinsic,
    load_f32,
    loop_with_carry,
    store_f32,
)
from graphc.codegen.lowering import mathfns
from graphc.codegen.lowering.gemm_vec import MASK, V16, VEC, fma, reduce16, smin, splat, vload, vstore, zero
from graphc.codegen.lowering.parallel_loops import GRAIN, Cut, split_range
from graphc.codegen.lowering.registry import kernel_lowering
from graphc.ir.affine import Sym
from graphc.ir.graph import Node
from graphc.ops.recurrence import (
    GATES,
    HARD_SIGMOID_OFFSET,
    HARD_SIGMOID_SLOPE,
    RECURRENCE,
    RECURRENCE_GRAD,
    SAVED,
    split_extras,
)

GROUP = 4  # samples stepped side by side, sharing each load of u
COLUMN_VECTORS = 4  # vectors of columns per sample whose sums stay in registers (forward product)
DOT_ROWS = 4  # rows of u whose dot products run side by side (backward product)
UNIT_WORK = 24  # the cell math per gate and unit, in multiply-adds' worth, for the task split

Unary = Callable[[ir.IRBuilder, ir.Value], ir.Value]
Pairs = Sequence[tuple[ir.Value, ir.Value]]
GroupBody = Callable[[ir.Value, ir.Value], None]


def _call(b: ir.IRBuilder, name: str, *args: ir.Value) -> ir.Value:
    return b.call(intrinsic(b.module, name, F32, [F32] * len(args)), list(args))


def _hard_sigmoid(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    y = b.fadd(b.fmul(x, f32(HARD_SIGMOID_SLOPE)), f32(HARD_SIGMOID_OFFSET))
    return _call(b, "llvm.minimum.f32", _call(b, "llvm.maximum.f32", y, f32(0.0)), f32(1.0))


def _hard_sigmoid_slope(b: ir.IRBuilder, y: ir.Value) -> ir.Value:
    inside = b.and_(b.fcmp_ordered(">", y, f32(0.0)), b.fcmp_ordered("<", y, f32(1.0)))
    return b.select(inside, f32(HARD_SIGMOID_SLOPE), f32(0.0))


# name -> (the activation, its derivative from its value y), as graphc.ops.recurrence.ACTIVATIONS
ACTIVATIONS: dict[str, tuple[Unary, Unary]] = {
    "tanh": (mathfns.tanh, lambda b, y: b.fsub(f32(1.0), b.fmul(y, y))),
    "sigmoid": (mathfns.sigmoid, lambda b, y: b.fmul(y, b.fsub(f32(1.0), y))),
    "relu": (lambda b, x: _call(b, "llvm.maximum.f32", x, f32(0.0)),
             lambda b, y: b.uitofp(b.fcmp_ordered(">", y, f32(0.0)), F32)),
    "linear": (lambda b, x: x, lambda b, y: f32(1.0)),
    "hard_sigmoid": (_hard_sigmoid, _hard_sigmoid_slope),
}


def _row(b: ir.IRBuilder, count: int, name: str) -> ir.Value:
    """A private row of `count` floats on the stack (in the function's entry block)."""
    with b.goto_entry_block():
        row = b.alloca(F32, size=count, name=name)
    row.align = 64
    return row


def _zero(b: ir.IRBuilder, row: ir.Value, count: int) -> None:
    with counted_loop(b, i64(count), name="zero") as k:
        store_f32(b, f32(0.0), row, k)


def _copy(b: ir.IRBuilder, source: ir.Value, target: ir.Value, count: int) -> None:
    with counted_loop(b, i64(count), name="copy") as k:
        store_f32(b, load_f32(b, source, k), target, k)


def _lanes(count: int) -> ir.Constant | None:
    """The mask of a vector's first `count` lanes; None for a whole vector."""
    return None if count == VEC else ir.Constant(MASK, [1] * count + [0] * (VEC - count))


def _widths(cols: int) -> list[int]:
    """The lanes of each vector covering `cols` columns."""
    return [min(VEC, cols - start) for start in range(0, cols, VEC)]


def _product(b: ir.IRBuilder, pairs: Pairs, u: ir.Value, ld: int, cols: int, depth: int) -> None:
    """acc[j] += sum over k < depth of h[k] * u[k * ld + j] for j < cols, for each (h, acc) pair.

    Blocks of COLUMN_VECTORS vectors of columns accumulate in registers over the whole depth."""
    width = COLUMN_VECTORS * VEC
    full = cols // width * width
    if full:
        with counted_loop(b, i64(full), step=width, name="cols") as j0:
            _column_block(b, pairs, u, ld, depth, j0, [VEC] * COLUMN_VECTORS)
    if cols > full:
        _column_block(b, pairs, u, ld, depth, i64(full), _widths(cols - full))


def _column_block(b: ir.IRBuilder, pairs: Pairs, u: ir.Value, ld: int, depth: int, j0: ir.Value,
                  widths: Sequence[int]) -> None:
    masks = [_lanes(w) for w in widths]
    offsets = [b.add(j0, i64(v * VEC)) for v in range(len(widths))]
    vectors = len(widths)
    init = [vload(b, element_ptr(b, acc, at), m)
            for _, acc in pairs for at, m in zip(offsets, masks, strict=True)]
    with loop_with_carry(b, i64(depth), init, name="depth") as (k, sums, nxt, result):
        u_row = element_ptr(b, u, b.mul(k, i64(ld)))
        columns = [vload(b, element_ptr(b, u_row, at), m) for at, m in zip(offsets, masks, strict=True)]
        for p, (h, _) in enumerate(pairs):
            weight = splat(b, load_f32(b, h, k), F32)
            mine = sums[p * vectors:(p + 1) * vectors]
            nxt.extend(fma(b, weight, column, total) for column, total in zip(columns, mine, strict=True))
    for p, (_, acc) in enumerate(pairs):
        for at, m, total in zip(offsets, masks, result[p * vectors:(p + 1) * vectors], strict=True):
            # a stack row is a typed float* to llvmlite, whose store check wants a vector pointer
            vstore(b, total, b.bitcast(element_ptr(b, acc, at), V16.as_pointer()), m)


def _dot(b: ir.IRBuilder, pairs: Pairs, u: ir.Value, ld: int, cols: int, depth: int,
         accumulate: bool) -> None:
    """out[k] (+)= sum over j < cols of da[j] * u[k * ld + j] for k < depth, for each (da, out) pair.

    Blocks of DOT_ROWS rows of u keep 16 partial sums per row and pair, one shuffle tree reduces them."""
    full = depth // DOT_ROWS * DOT_ROWS
    if full:
        with counted_loop(b, i64(full), step=DOT_ROWS, name="rows") as k0:
            _row_block(b, pairs, u, ld, cols, k0, DOT_ROWS, accumulate)
    if depth > full:
        _row_block(b, pairs, u, ld, cols, i64(full), depth - full, accumulate)


def _row_block(b: ir.IRBuilder, pairs: Pairs, u: ir.Value, ld: int, cols: int, k0: ir.Value, rows: int,
               accumulate: bool) -> None:
    u_rows = [element_ptr(b, u, b.mul(b.add(k0, i64(r)), i64(ld))) for r in range(rows)]

    def update(sums: Sequence[ir.Value], at: ir.Value, mask: ir.Value | None) -> list[ir.Value]:
        columns = [vload(b, element_ptr(b, row, at), mask) for row in u_rows]
        out = []
        for p, (da, _) in enumerate(pairs):
            x = vload(b, element_ptr(b, da, at), mask)
            out.extend(fma(b, x, column, sums[p * rows + r]) for r, column in enumerate(columns))
        return out

    whole = cols // VEC
    with loop_with_carry(b, i64(whole), [zero()] * (rows * len(pairs)), name="dot") as (v, sums, nxt, result):
        nxt.extend(update(sums, b.mul(v, i64(VEC)), None))
    sums = result
    if cols > whole * VEC:
        sums = update(sums, i64(whole * VEC), _lanes(cols - whole * VEC))
    totals = reduce16(b, sums)
    for p, (_, out) in enumerate(pairs):
        for r in range(rows):
            q = p * rows + r
            at = b.add(k0, i64(r))
            value = b.extract_element(totals[q // VEC], ir.Constant(I32, q % VEC))
            if accumulate:
                value = b.fadd(load_f32(b, out, at), value)
            store_f32(b, value, out, at)


class _Recurrence:
    """A recurrence node's sizes and attributes, and where a step's rows are."""

    def __init__(self, node: Node, u: Node, steps: int) -> None:
        attrs = node.attrs
        self.cell = attrs["cell"]
        self.steps = steps
        self.units = u.shape[0]
        self.width = GATES[self.cell] * self.units  # floats per step of z (and dz)
        self.saved = SAVED[self.cell] * self.units  # floats per step of s (and g)
        self.reverse = attrs["reverse"]
        self.act, self.act_slope = ACTIVATIONS[attrs["activation"]]
        self.rec, self.rec_slope = ACTIVATIONS[attrs["recurrent_activation"]]

    def run_groups(self, ctx: KernelContext, start: Callable[[KernelContext], GroupBody]) -> None:
        """Every group of samples, the samples split over the worker pool: `start(context)` sets up
        a task and gives the code of one group, (first sample, count), count <= GROUP.

        split_range is told a sample's work capped at GRAIN / GROUP, so that a task holds at
        least GROUP samples, however long the sequences."""
        work = min(self.steps * self.width * (2 * self.units + UNIT_WORK), GRAIN // GROUP)

        def samples(sub: KernelContext, cut: Cut) -> None:
            b = sub.builder
            group = start(sub)
            with counted_loop(b, cut.hi, start=cut.lo, step=GROUP, name="group") as first:
                group(first, smin(b, b.sub(cut.hi, first), i64(GROUP)))

        split_range(ctx, Sym(1, 1), Sym(work), samples)

    def row(self, b: ir.IRBuilder, base: ir.Value, n: ir.Value, step: ir.Value, width: int,
            rows: int | None = None) -> ir.Value:
        """The row of sample n at time or processing step `step` in an (N, rows, width) buffer,
        rows = T unless given (recurrence_grad's output has a row T for the initial state)."""
        rows = self.steps if rows is None else rows
        return element_ptr(b, base, b.mul(b.add(b.mul(n, i64(rows)), step), i64(width)))

    def sample(self, b: ir.IRBuilder, base: ir.Value, n: ir.Value) -> ir.Value:
        """The row of sample n in an (N, H) buffer (h0, c0, rmask)."""
        return element_ptr(b, base, b.mul(n, i64(self.units)))

    def gather(self, b: ir.IRBuilder, pairs: Pairs, first: ir.Value, count: ir.Value) -> None:
        """Each present member's row of each (N, H) source into its row of the private target."""
        if not pairs:
            return
        with counted_loop(b, count, name="member") as g:
            n = b.add(first, g)
            for source, target in pairs:
                _copy(b, self.sample(b, source, n), element_ptr(b, target, b.mul(g, i64(self.units))),
                      self.units)

    def scale(self, b: ir.IRBuilder, row: ir.Value, by: ir.Value, out: ir.Value,
              add: ir.Value | None = None) -> None:
        """out = row * by (+ add) over a whole group's private rows of units, missing members too."""
        with counted_loop(b, i64(GROUP * self.units), name="scale") as k:
            value = b.fmul(load_f32(b, row, k), load_f32(b, by, k))
            if add is not None:
                value = b.fadd(load_f32(b, add, k), value)
            store_f32(b, value, out, k)

    def time(self, b: ir.IRBuilder, step: ir.Value) -> ir.Value:
        """The time step that processing step `step` reads."""
        return b.sub(i64(self.steps - 1), step) if self.reverse else step

    def keep(self, b: ir.IRBuilder, mask: ir.Value | None, n: ir.Value, step: ir.Value) -> ir.Value | None:
        """The mask value of processing step `step` (None without a mask)."""
        if mask is None:
            return None
        return load_f32(b, mask, b.add(b.mul(n, i64(self.steps)), self.time(b, step)))

    def members(self, b: ir.IRBuilder, row: ir.Value, width: int, offset: int = 0) -> list[ir.Value]:
        """Each group member's row (from `offset`) in a private row of GROUP rows of `width` floats."""
        return [element_ptr(b, row, i64(g * width + offset)) for g in range(GROUP)]


def _blend(b: ir.IRBuilder, keep: ir.Value | None, new: ir.Value, old: ir.Value) -> ir.Value:
    """keep * new + (1 - keep) * old: a masked step carries the state over."""
    if keep is None:
        return new
    return b.fadd(b.fmul(keep, new), b.fmul(b.fsub(f32(1.0), keep), old))


def _split(b: ir.IRBuilder, keep: ir.Value | None, grad: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(the part of a state's gradient for this step, the part a masked step passes on)."""
    if keep is None:
        return grad, f32(0.0)
    return b.fmul(keep, grad), b.fmul(b.fsub(f32(1.0), keep), grad)


@dataclass
class _Parts:
    """A row of parts of `units` floats each (h, c, the gates, ...)."""

    b: ir.IRBuilder
    row: ir.Value
    units: int

    def __getitem__(self, at: tuple[int, ir.Value]) -> ir.Value:
        part, k = at
        return load_f32(self.b, self.row, self.b.add(k, i64(part * self.units)))

    def __setitem__(self, at: tuple[int, ir.Value], value: ir.Value) -> None:
        part, k = at
        store_f32(self.b, value, self.row, self.b.add(k, i64(part * self.units)))


@dataclass
class _Step:
    """One sample's rows at one forward step: z and s in the buffers, the rest private."""

    z: _Parts
    s: _Parts
    keep: ir.Value | None
    acc: _Parts
    h: ir.Value
    dropped: ir.Value  # h * rmask, what the products and a GRU's blend see of h_prev (h without dropout)
    c: ir.Value
    reset: ir.Value


Steps = Callable[[], contextlib.AbstractContextManager[_Step]]  # a loop over a group's members


class _Forward:
    """A group's steps: each member's state h (and c) and gate sums `acc` in private rows."""

    def __init__(self, sub: KernelContext, node: Node) -> None:
        z, u, rb = node.inputs[:3]
        mask, rmask, initial = split_extras(node.inputs[3:], node.attrs)
        self.b = b = sub.builder
        self.r = r = _Recurrence(node, u, node.shape[1])
        self.z, self.u, self.rb, self.s = sub.ptr(z), sub.ptr(u), sub.ptr(rb), sub.ptr(node)
        self.mask = sub.ptr(mask[0]) if mask else None
        self.rmask = sub.ptr(rmask[0]) if rmask else None
        self.initial = [sub.ptr(state) for state in initial]  # h0 (and c0)
        self.acc = _row(b, GROUP * r.width, "acc")
        self.h = _row(b, GROUP * r.units, "h")
        self.drop = _row(b, GROUP * r.units, "drop")  # the members' rmask rows (unused, so removed, without)
        self.dropped = self.h if self.rmask is None else _row(b, GROUP * r.units, "dropped")
        self.c = _row(b, GROUP * r.units, "c")  # lstm's; LLVM drops the rows a cell leaves unused
        self.reset = _row(b, GROUP * r.units, "reset")  # gru_v1's

    def group(self, first: ir.Value, count: ir.Value) -> None:
        b, r = self.b, self.r
        _zero(b, self.acc, GROUP * r.width)
        _zero(b, self.h, GROUP * r.units)
        _zero(b, self.c, GROUP * r.units)
        r.gather(b, list(zip(self.initial, (self.h, self.c), strict=False)), first, count)
        if self.rmask is not None:
            _zero(b, self.drop, GROUP * r.units)
            r.gather(b, [(self.rmask, self.drop)], first, count)
        with counted_loop(b, i64(r.steps), name="step") as step:
            if self.rmask is not None:
                r.scale(b, self.h, self.drop, self.dropped)
            getattr(self, r.cell)(partial(self._each, first, count, step))  # the cell's step

    @contextlib.contextmanager
    def _each(self, first: ir.Value, count: ir.Value, step: ir.Value) -> Iterator[_Step]:
        """The group's members one after the other, as their rows at `step`."""
        b, r = self.b, self.r
        with counted_loop(b, count, name="member") as g:
            n = b.add(first, g)

            def mine(row: ir.Value, width: int) -> ir.Value:
                return element_ptr(b, row, b.mul(g, i64(width)))

            yield _Step(_Parts(b, r.row(b, self.z, n, r.time(b, step), r.width), r.units),
                        _Parts(b, r.row(b, self.s, n, step, r.saved), r.units), r.keep(b, self.mask, n, step),
                        _Parts(b, mine(self.acc, r.width), r.units), mine(self.h, r.units),
                        mine(self.dropped, r.units), mine(self.c, r.units), mine(self.reset, r.units))

    def _start(self, x: _Step, lo: int, hi: int, with_input: bool = True) -> None:
        """acc[j] = z[j] + rb[j] (rb[j] alone without the input) for lo <= j < hi."""
        b = self.b
        with counted_loop(b, i64(hi), start=i64(lo), name="bias") as j:
            value = load_f32(b, self.rb, j)
            if with_input:
                value = b.fadd(x.z[0, j], value)
            x.acc[0, j] = value

    def _recurrent(self, source: ir.Value, cols: int, offset: int = 0) -> None:
        """acc[offset:offset+cols] += source @ u[:, offset:offset+cols] for every member."""
        b, r = self.b, self.r
        pairs = list(zip(r.members(b, source, r.units), r.members(b, self.acc, r.width, offset), strict=True))
        _product(b, pairs, element_ptr(b, self.u, i64(offset)), r.width, cols, r.units)

    def simple(self, each: Steps) -> None:
        b, r = self.b, self.r
        with each() as x:
            self._start(x, 0, r.width)
        self._recurrent(self.dropped, r.width)
        with each() as x, counted_loop(b, i64(r.units), name="unit") as k:
            h = _blend(b, x.keep, r.act(b, x.acc[0, k]), load_f32(b, x.h, k))
            store_f32(b, h, x.h, k)
            x.s[0, k] = h

    def lstm(self, each: Steps) -> None:
        b, r = self.b, self.r
        with each() as x:
            self._start(x, 0, r.width)
        self._recurrent(self.dropped, r.width)
        with each() as x, counted_loop(b, i64(r.units), name="unit") as k:
            i, f, g, o = (fn(b, x.acc[q, k]) for q, fn in enumerate((r.rec, r.rec, r.act, r.rec)))
            c_prev = load_f32(b, x.c, k)
            c_new = b.fadd(b.fmul(f, c_prev), b.fmul(i, g))
            h = _blend(b, x.keep, b.fmul(o, r.act(b, c_new)), load_f32(b, x.h, k))
            c = _blend(b, x.keep, c_new, c_prev)
            store_f32(b, h, x.h, k)
            store_f32(b, c, x.c, k)
            for part, value in enumerate((h, c, i, f, g, o)):
                x.s[part, k] = value

    def gru(self, each: Steps) -> None:
        """reset_after: the candidate's recurrent product rh = h_prev @ u_h + rb_h is scaled by r."""
        b, r = self.b, self.r
        with each() as x:
            self._start(x, 0, 2 * r.units)
            self._start(x, 2 * r.units, r.width, with_input=False)
        self._recurrent(self.dropped, r.width)
        with each() as x, counted_loop(b, i64(r.units), name="unit") as k:
            gate_z, gate_r, rh = r.rec(b, x.acc[0, k]), r.rec(b, x.acc[1, k]), x.acc[2, k]
            hh = r.act(b, b.fadd(x.z[2, k], b.fmul(gate_r, rh)))
            h = b.fadd(b.fmul(gate_z, load_f32(b, x.dropped, k)), b.fmul(b.fsub(f32(1.0), gate_z), hh))
            h = _blend(b, x.keep, h, load_f32(b, x.h, k))
            store_f32(b, h, x.h, k)
            for part, value in enumerate((h, gate_z, gate_r, hh, rh)):
                x.s[part, k] = value

    def gru_v1(self, each: Steps) -> None:
        """reset_before: the gates first, then the candidate's product with r * h_prev."""
        b, r = self.b, self.r
        units = r.units
        with each() as x:
            self._start(x, 0, r.width)
        self._recurrent(self.dropped, 2 * units)
        with each() as x, counted_loop(b, i64(units), name="gates") as k:
            gate_z, gate_r = r.rec(b, x.acc[0, k]), r.rec(b, x.acc[1, k])
            store_f32(b, b.fmul(gate_r, load_f32(b, x.dropped, k)), x.reset, k)
            x.s[1, k], x.s[2, k] = gate_z, gate_r
        self._recurrent(self.reset, units, 2 * units)
        with each() as x, counted_loop(b, i64(units), name="unit") as k:
            hh = r.act(b, x.acc[2, k])
            gate_z = x.s[1, k]
            h = b.fadd(b.fmul(gate_z, load_f32(b, x.dropped, k)), b.fmul(b.fsub(f32(1.0), gate_z), hh))
            h = _blend(b, x.keep, h, load_f32(b, x.h, k))
            store_f32(b, h, x.h, k)
            x.s[0, k], x.s[3, k] = h, hh


@dataclass
class _Grads:
    """One sample's rows at one backward step: s, the step before's s (read only when there is
    one), g and dz in the buffers; the gradients the products read (da) and make (dh, dc, drh, and
    with recurrent dropout d_dropped, that of h_prev * rmask, which is dh without)."""

    s: _Parts
    prev: _Parts
    has_prev: ir.Value
    g: _Parts
    dz: _Parts
    keep: ir.Value | None
    da: _Parts
    dh: ir.Value
    dc: ir.Value
    drh: ir.Value
    d_dropped: ir.Value
    drop: ir.Value | None  # the member's rmask row; None without recurrent dropout
    initial: Sequence[ir.Value]  # the sample's rows of h0 (and c0); none for a zero initial state

    def h_prev(self, b: ir.IRBuilder, part: int, k: ir.Value) -> ir.Value:
        """The step before's saved h (part 0) or c (part 1); the initial state at the first step."""
        first = load_f32(b, self.initial[part], k) if self.initial else f32(0.0)
        return b.select(self.has_prev, self.prev[part, k], first)

    def dropped(self, b: ir.IRBuilder, k: ir.Value) -> ir.Value:
        """h_prev * rmask, as the forward step's products and GRU blend saw it."""
        h = self.h_prev(b, 0, k)
        return h if self.drop is None else b.fmul(h, load_f32(b, self.drop, k))


Grads = Callable[[], contextlib.AbstractContextManager[_Grads]]  # a loop over a group's members


class _Backward:
    """A group's steps from the last: the gradients reaching each member's state in private rows."""

    def __init__(self, sub: KernelContext, node: Node) -> None:
        u, s, g = node.inputs[:3]
        mask, rmask, initial = split_extras(node.inputs[3:], node.attrs)
        self.b = b = sub.builder
        self.r = r = _Recurrence(node, u, s.shape[1])
        self.u, self.s, self.g, self.dz = sub.ptr(u), sub.ptr(s), sub.ptr(g), sub.ptr(node)
        self.mask = sub.ptr(mask[0]) if mask else None
        self.rmask = sub.ptr(rmask[0]) if rmask else None
        self.initial = [sub.ptr(state) for state in initial]  # h0 (and c0)
        self.dz_rows = node.shape[1]  # T, or T + 1 with the initial state's row
        self.da = _row(b, GROUP * r.width, "da")
        self.dh = _row(b, GROUP * r.units, "dh")
        self.dc = _row(b, GROUP * r.units, "dc")  # lstm's; LLVM drops the rows a cell leaves unused
        self.drh = _row(b, GROUP * r.units, "drh")  # gru_v1's
        self.drop = _row(b, GROUP * r.units, "drop")  # the members' rmask rows (unused, so removed, without)
        self.d_dropped = self.dh if self.rmask is None else _row(b, GROUP * r.units, "d_dropped")

    def group(self, first: ir.Value, count: ir.Value) -> None:
        b, r = self.b, self.r
        _zero(b, self.da, GROUP * r.width)
        _zero(b, self.dh, GROUP * r.units)
        _zero(b, self.dc, GROUP * r.units)
        if self.rmask is not None:
            _zero(b, self.drop, GROUP * r.units)
            _zero(b, self.d_dropped, GROUP * r.units)
            r.gather(b, [(self.rmask, self.drop)], first, count)
        with counted_loop(b, i64(r.steps), name="step") as back:
            step = b.sub(i64(r.steps - 1), back)
            getattr(self, r.cell)(partial(self._each, first, count, step))  # the cell's step
        self._store_initial(first, count)

    def _store_initial(self, first: ir.Value, count: ir.Value) -> None:
        """Row T of each present member: the gradients the steps left for h (and c), the initial
        state's, then zeros."""
        if not self.initial:
            return
        b, r = self.b, self.r
        carried = len(self.initial) * r.units
        with counted_loop(b, count, name="member") as g:
            out = r.row(b, self.dz, b.add(first, g), i64(r.steps), r.width, self.dz_rows)
            for q, state in enumerate((self.dh, self.dc)[:len(self.initial)]):
                _copy(b, element_ptr(b, state, b.mul(g, i64(r.units))), element_ptr(b, out, i64(q * r.units)),
                      r.units)
            if r.width > carried:
                _zero(b, element_ptr(b, out, i64(carried)), r.width - carried)

    @contextlib.contextmanager
    def _each(self, first: ir.Value, count: ir.Value, step: ir.Value) -> Iterator[_Grads]:
        """The group's members one after the other, as their rows at processing step `step`."""
        b, r = self.b, self.r
        with counted_loop(b, count, name="member") as g:
            n = b.add(first, g)
            has_prev = b.icmp_signed(">", step, i64(0))

            def mine(row: ir.Value, width: int) -> ir.Value:
                return element_ptr(b, row, b.mul(g, i64(width)))

            def saved(base: ir.Value, at: ir.Value, width: int, rows: int | None = None) -> _Parts:
                return _Parts(b, r.row(b, base, n, at, width, rows), r.units)

            drop = None if self.rmask is None else mine(self.drop, r.units)
            yield _Grads(saved(self.s, step, r.saved),
                         saved(self.s, b.select(has_prev, b.sub(step, i64(1)), step), r.saved), has_prev,
                         saved(self.g, step, r.saved), saved(self.dz, step, r.width, self.dz_rows),
                         r.keep(b, self.mask, n, step), _Parts(b, mine(self.da, r.width), r.units),
                         mine(self.dh, r.units), mine(self.dc, r.units), mine(self.drh, r.units),
                         mine(self.d_dropped, r.units), drop,
                         [r.sample(b, state, n) for state in self.initial])

    def _recurrent(self, cols: int, out: ir.Value, accumulate: bool = True, offset: int = 0) -> None:
        """out (+)= da[offset:offset+cols] @ u[:, offset:offset+cols]^T for every member."""
        b, r = self.b, self.r
        pairs = list(zip(r.members(b, self.da, r.width, offset), r.members(b, out, r.units), strict=True))
        _dot(b, pairs, element_ptr(b, self.u, i64(offset)), r.width, cols, r.units, accumulate)

    def _carry(self, x: _Grads, k: ir.Value, passed: ir.Value, direct: ir.Value | None = None) -> None:
        """What reaches h_prev before the products: `passed` (a masked step's, not dropped) into dh,
        the direct gradient of h_prev * rmask into the row the products add to (one sum in dh
        without recurrent dropout)."""
        b = self.b
        if self.rmask is None:
            store_f32(b, passed if direct is None else b.fadd(passed, direct), x.dh, k)
            return
        store_f32(b, passed, x.dh, k)
        store_f32(b, f32(0.0) if direct is None else direct, x.d_dropped, k)

    def _to_state(self, cols: int) -> None:
        """The products of da[:cols] with u[:, :cols]^T reach h_prev * rmask, and all that reaches
        it reaches dh times rmask, for every member."""
        self._recurrent(cols, self.d_dropped)
        if self.rmask is not None:
            self.r.scale(self.b, self.d_dropped, self.drop, self.dh, add=self.dh)

    def _dz(self, x: _Grads, part: int, k: ir.Value, value: ir.Value) -> None:
        """A gate's pre-activation gradient, into dz and into the product's row."""
        x.dz[part, k] = value
        x.da[part, k] = value

    def simple(self, each: Grads) -> None:
        b, r = self.b, self.r
        with each() as x, counted_loop(b, i64(r.units), name="unit") as k:
            dh, passed = _split(b, x.keep, b.fadd(x.g[0, k], load_f32(b, x.dh, k)))
            self._dz(x, 0, k, b.fmul(dh, r.act_slope(b, x.s[0, k])))
            self._carry(x, k, passed)
        self._to_state(r.width)

    def lstm(self, each: Grads) -> None:
        b, r = self.b, self.r
        with each() as x, counted_loop(b, i64(r.units), name="unit") as k:
            c, i, f, gg, o = (x.s[q, k] for q in range(1, 6))
            act_c = r.act(b, c)
            dh, passed = _split(b, x.keep, b.fadd(x.g[0, k], load_f32(b, x.dh, k)))
            dc_kept, dc_passed = _split(b, x.keep, b.fadd(x.g[1, k], load_f32(b, x.dc, k)))
            dc = b.fadd(dc_kept, b.fmul(b.fmul(dh, o), r.act_slope(b, act_c)))
            di = b.fadd(b.fmul(dc, gg), x.g[2, k])
            df = b.fadd(b.fmul(dc, x.h_prev(b, 1, k)), x.g[3, k])
            dg = b.fadd(b.fmul(dc, i), x.g[4, k])
            do = b.fadd(b.fmul(dh, act_c), x.g[5, k])
            self._dz(x, 0, k, b.fmul(di, r.rec_slope(b, i)))
            self._dz(x, 1, k, b.fmul(df, r.rec_slope(b, f)))
            self._dz(x, 2, k, b.fmul(dg, r.act_slope(b, gg)))
            self._dz(x, 3, k, b.fmul(do, r.rec_slope(b, o)))
            store_f32(b, b.fadd(dc_passed, b.fmul(dc, f)), x.dc, k)
            self._carry(x, k, passed)
        self._to_state(r.width)

    def gru(self, each: Grads) -> None:
        """The product runs on the gradients of the recurrent parts: z's, r's and rh's."""
        b, r = self.b, self.r
        with each() as x, counted_loop(b, i64(r.units), name="unit") as k:
            gate_z, gate_r, hh, rh = (x.s[q, k] for q in range(1, 5))
            dh, passed = _split(b, x.keep, b.fadd(x.g[0, k], load_f32(b, x.dh, k)))
            dgz = b.fadd(b.fmul(dh, b.fsub(x.dropped(b, k), hh)), x.g[1, k])
            dhh = b.fadd(b.fmul(dh, b.fsub(f32(1.0), gate_z)), x.g[3, k])
            dpre_h = b.fmul(dhh, r.act_slope(b, hh))
            dgr = b.fadd(b.fmul(dpre_h, rh), x.g[2, k])
            self._dz(x, 0, k, b.fmul(dgz, r.rec_slope(b, gate_z)))
            self._dz(x, 1, k, b.fmul(dgr, r.rec_slope(b, gate_r)))
            x.dz[2, k] = dpre_h
            x.da[2, k] = b.fadd(b.fmul(dpre_h, gate_r), x.g[4, k])
            self._carry(x, k, passed, b.fmul(dh, gate_z))
        self._to_state(r.width)

    def gru_v1(self, each: Grads) -> None:
        """The candidate's gradient first: its product gives the gradient of r * h_prev (* rmask),
        which the reset gate's needs."""
        b, r = self.b, self.r
        units = r.units
        with each() as x, counted_loop(b, i64(units), name="candidate") as k:
            dh, _ = _split(b, x.keep, b.fadd(x.g[0, k], load_f32(b, x.dh, k)))
            dhh = b.fadd(b.fmul(dh, b.fsub(f32(1.0), x.s[1, k])), x.g[3, k])
            self._dz(x, 2, k, b.fmul(dhh, r.act_slope(b, x.s[3, k])))
        self._recurrent(units, self.drh, accumulate=False, offset=2 * units)
        with each() as x, counted_loop(b, i64(units), name="unit") as k:
            gate_z, gate_r, hh = (x.s[q, k] for q in range(1, 4))
            dropped, d_rh = x.dropped(b, k), load_f32(b, x.drh, k)
            dh, passed = _split(b, x.keep, b.fadd(x.g[0, k], load_f32(b, x.dh, k)))
            dgz = b.fadd(b.fmul(dh, b.fsub(dropped, hh)), x.g[1, k])
            dgr = b.fadd(b.fmul(d_rh, dropped), x.g[2, k])
            self._dz(x, 0, k, b.fmul(dgz, r.rec_slope(b, gate_z)))
            self._dz(x, 1, k, b.fmul(dgr, r.rec_slope(b, gate_r)))
            direct = b.fadd(b.fmul(dh, gate_z), b.fmul(d_rh, gate_r))
            self._carry(x, k, passed, direct)
        self._to_state(2 * units)


@kernel_lowering(RECURRENCE)
def _recurrence(ctx: KernelContext, node: Node) -> None:
    _Recurrence(node, node.inputs[1], node.shape[1]).run_groups(ctx, lambda sub: _Forward(sub, node).group)


@kernel_lowering(RECURRENCE_GRAD)
def _recurrence_grad(ctx: KernelContext, node: Node) -> None:
    steps = node.inputs[1].shape[1]
    _Recurrence(node, node.inputs[0], steps).run_groups(ctx, lambda sub: _Backward(sub, node).group)
