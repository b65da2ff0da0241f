"""scan: a native loop calling its body, compiled as an internal program of the same module.

The body goes through the model pipeline (fusion, GEMM epilogues) and program emission like any
program, so its kernels are the ones a model gets (a recurrent product with its gates fused into
the GEMM's epilogue), each parallel on the pool; the code and its compile time do not depend on
the number of steps. Per step the loop fills the body's argument array: the carries (two buffers
in the scan's scratch, written and read in turn), the step's element of each sequence and its
place in each stacked output (time-major, so both are one contiguous block at t * element
bytes), and the constants; the body's own workspace follows the carry buffers in the scratch,
which therefore grows with N.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from llvmlite import ir

from graphc.codegen import parallel
from graphc.codegen.buffers import Size, assign_buffers
from graphc.codegen.context import KernelContext, load_fields, store_fields
from graphc.codegen.llvm_util import I1, I32, I64, PTR, VOID, counted_loop, i64, intrinsic
from graphc.codegen.lowering.registry import kernel_lowering
from graphc.codegen.program import ConstantPool, emit_program
from graphc.ir.affine import Sym, numel
from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import copy_into
from graphc.ir.verify import verify
from graphc.ops.rows import batch_leading
from graphc.ops.scan import SCAN, runs_by_rows
from graphc.passes.kernels import partition
from graphc.passes.pipeline import DEFAULT_LEVEL, run_pipeline


@dataclass(frozen=True)
class _Body:
    graph: Graph  # optimized, without the history outputs (the loop keeps the carries there itself)
    workspace: Size
    y_parts: list[int]  # the node's stacked value each per-step output of `graph` goes to
    history_parts: list[int]  # per carry, the stacked value holding the carry each step started from
    by_rows: bool  # each group of batch rows may run the whole loop alone (ops.scan.runs_by_rows)


# Groups of rows that run their whole time loop on one thread (see _group_rows).
MIN_GROUP_ROWS, MAX_GROUPS = 16, 8

_bodies: weakref.WeakKeyDictionary[Graph, _Body] = weakref.WeakKeyDictionary()
# Held while a body is looked up or optimized: models compile on several threads at once, and the
# library build asks for a body's GEMM cases outside the IR lock.
_bodies_lock = threading.RLock()  # re-entered by a scan nested in a body


def _body(node: Node) -> _Body:
    """The node's body as compiled (optimized once per body graph)."""
    region: Graph = node.attrs["body"]
    with _bodies_lock:
        if region not in _bodies:
            k = node.attrs["carries"]
            names = list(region.outputs)
            history = [f"history{i}" for i in range(k)] if node.attrs.get("history") else []
            kept = [name for name in names if name not in history]
            source = _with_outputs(region, kept) if history else region
            graph = run_pipeline(source, DEFAULT_LEVEL, instruments=()).graph
            verify(graph, region=True)  # a region's arguments may hold k * N rows
            plan = assign_buffers(graph, partition(graph))
            _bodies[region] = _Body(graph, plan.arena_size, [names.index(n) - k for n in kept[k:]],
                                    [names.index(n) - k for n in history], runs_by_rows(graph, k))
        return _bodies[region]


def _with_outputs(region: Graph, names: list[str]) -> Graph:
    """A copy of the region with only the named outputs."""
    copy = Graph(region.name)
    mapping = copy_into(region, copy, {})
    for name in names:
        copy.outputs[name] = mapping[region.outputs[name]]
    return copy


def _bytes(node: Node) -> Size:
    nbytes = numel(node.shape) * node.type.itemsize
    return Size.of(nbytes).aligned()


def _carry_layout(node: Node) -> tuple[list[Size], Size]:
    """Offsets of the carries within one carry buffer, and the buffer's size."""
    offsets, end = [], Size()
    for carry in list(node.attrs["body"].inputs.values())[: node.attrs["carries"]]:
        offsets.append(end)
        end = end + _bytes(carry)
    return offsets, end


def _carry_room(node: Node) -> Size:
    """Two carry buffers, written and read in turn; none when the carries live in the history."""
    _, carries = _carry_layout(node)
    return Size() if _body(node).history_parts else carries + carries


def scratch(node: Node) -> Size:
    """The carry buffers and the body's workspace (one per group of rows when they run apart)."""
    body = _body(node)
    workspace = body.workspace.aligned()
    if body.by_rows:
        workspace = _group_workspace(workspace)
    return _carry_room(node) + workspace


def _regions(node: Node) -> list[Graph]:
    return [_body(node).graph]


def _step_bytes(node: Node) -> Sym:
    return numel(node.shape) * node.type.itemsize


def _row_bytes(node: Node) -> int:
    """Bytes per batch row of a value with the batch in front; 0 for one without a batch axis (every
    group of rows reads all of it)."""
    return numel(node.shape[1:]).coef * node.type.itemsize if batch_leading(node.type) else 0


def _group_rows(b: ir.IRBuilder, batch: ir.Value) -> ir.Value:
    """Rows per group: at least MIN_GROUP_ROWS (a GEMM's row blocks stay full), a multiple of 8, and
    at most MAX_GROUPS groups; from N alone, so every thread count computes the same bits."""
    eighth = b.and_(b.add(b.sdiv(b.add(batch, i64(MAX_GROUPS - 1)), i64(MAX_GROUPS)), i64(7)), i64(-8))
    return b.select(b.icmp_signed("<", eighth, i64(MIN_GROUP_ROWS)), i64(MIN_GROUP_ROWS), eighth)


def _group_workspace(workspace: Size) -> Size:
    """Room for every group's workspace: at most MAX_GROUPS of them, holding fewer than
    N + MIN_GROUP_ROWS + 8 + N / 8 rows between them (see _group_rows)."""
    return Size(MAX_GROUPS * workspace.static + (MIN_GROUP_ROWS + 8) * workspace.per_batch,
                2 * workspace.per_batch)


@dataclass
class _Loop:
    """The time loop of one scan node: the body program it calls and where each step's operands are."""

    ctx: KernelContext
    node: Node

    def __post_init__(self) -> None:
        ctx, node = self.ctx, self.node
        self.k, s = node.attrs["carries"], node.attrs["sequences"]
        self.compiled = _body(node)
        body = self.compiled.graph
        name = f"{ctx.builder.function.name}_body"
        emit_program(ctx.module, name, body, ConstantPool(ctx.module, f"{name}_const"), internal=True)
        self.callee = ctx.module.get_global(f"graphc_{name}")
        self.inputs, self.outputs = list(body.inputs.values()), list(body.outputs.values())
        self.offsets, self.carry_size = _carry_layout(node)
        self.sequences = self.inputs[self.k : self.k + s]
        self.constants = self.inputs[self.k + s :]

    def run(self, b: ir.IRBuilder, batch: ir.Value, bases: list[ir.Value], rows: ir.Value, first: ir.Value,
            workspace: ir.Value) -> None:
        """Every step for the `rows` rows from row `first` on, the batch holding `batch` rows.

        bases: the scratch, each sequence and constant, and the node's values (final carries, stacked
        outputs). A scan with history keeps the carries in it: a step reads the carry it starts from
        where the history holds it and writes the new one where the next step's is (the last step:
        the final carry), so nothing is copied per step.
        """
        k, length, reverse = self.k, self.node.attrs["length"], self.node.attrs.get("reverse")
        ctx = KernelContext(b, batch, {})
        scratch, rest = bases[0], bases[1:]
        sequences, rest = rest[: len(self.sequences)], rest[len(self.sequences) :]
        constants, parts = rest[: len(self.constants)], rest[len(self.constants) :]
        finals, stacked = parts[:k], parts[k:]
        ys = [stacked[j] for j in self.compiled.y_parts]
        history = [stacked[j] for j in self.compiled.history_parts]

        def row(base: ir.Value, value: Node) -> ir.Value:
            nbytes = _row_bytes(value)
            return base if nbytes == 0 else _offset(b, base, b.mul(first, i64(nbytes)))

        carries = self.inputs[:k]
        with b.goto_entry_block():
            args = b.alloca(ir.ArrayType(PTR, max(len(self.inputs) + len(self.outputs), 1)), name="body_args")
        element_bytes = [ctx.sym(_step_bytes(x)) for x in self.sequences]
        y_bytes = [ctx.sym(_step_bytes(y)) for y in self.outputs[k:]]
        carry_bytes = [ctx.sym(_step_bytes(c)) for c in carries]
        fixed = [row(c, value) for c, value in zip(constants, self.constants, strict=True)]

        def carried(buffer: ir.Value) -> list[ir.Value]:
            return [row(_at(ctx, buffer, off), c) for off, c in zip(self.offsets, carries, strict=True)]

        def in_history(step: ir.Value) -> list[ir.Value]:
            return [row(_offset(b, h, b.mul(step, n)), c)
                    for h, n, c in zip(history, carry_bytes, carries, strict=True)]

        with counted_loop(b, i64(length), name="t") as t:
            step = b.sub(i64(length - 1), t) if reverse else t
            pointers, written = [], []
            if history:
                last = b.icmp_signed("==", t, i64(length - 1))
                following = in_history(b.sub(step, i64(1)) if reverse else b.add(step, i64(1)))
                pointers += in_history(step)
                written = [b.select(last, row(final, c), nxt)
                           for final, nxt, c in zip(finals, following, carries, strict=True)]
            elif k:
                even = b.icmp_signed("==", b.and_(t, i64(1)), i64(0))
                buffers = [scratch, _at(ctx, scratch, self.carry_size)]  # two carry buffers in turn
                read = b.select(even, buffers[0], buffers[1])
                written = carried(b.select(even, buffers[1], buffers[0]))
                pointers += carried(read)
            pointers += [row(_offset(b, x, b.mul(step, n)), value)
                         for x, n, value in zip(sequences, element_bytes, self.sequences, strict=True)]
            pointers += fixed + written
            pointers += [row(_offset(b, y, b.mul(step, n)), value)
                         for y, n, value in zip(ys, y_bytes, self.outputs[k:], strict=True)]
            for index, pointer in enumerate(pointers):
                b.store(pointer, b.gep(args, [i64(0), ir.Constant(I32, index)], inbounds=True))
            b.call(self.callee, [rows, b.bitcast(args, PTR), workspace])

    def by_groups(self, bases: list[ir.Value]) -> None:
        """One pool task per group of rows, each running every step of its rows: no barrier per step."""
        b = self.ctx.builder
        task, tb = parallel.task_function(b.module, f"{b.function.name}_rows")
        batch, pointers = load_fields(tb, task.args[0], len(bases))
        group = task.args[1]
        per_group = _group_rows(tb, batch)
        first = tb.mul(group, per_group)
        left = tb.sub(batch, first)
        rows = tb.select(tb.icmp_signed("<", left, per_group), left, per_group)
        workspace = self.compiled.workspace.aligned()
        each = tb.add(i64(workspace.static), tb.mul(i64(workspace.per_batch), per_group))
        start = _at(KernelContext(tb, batch, {}), pointers[0], _carry_room(self.node))
        self.run(tb, batch, pointers, rows, first, _offset(tb, start, tb.mul(group, each)))
        tb.ret_void()
        per_group = _group_rows(b, self.ctx.batch)
        groups = b.sdiv(b.add(self.ctx.batch, b.sub(per_group, i64(1))), per_group)
        parallel.parallel_for(b, task, store_fields(b, self.ctx.batch, bases, "scan_rows"), groups)


@kernel_lowering(SCAN, scratch_bytes=scratch, regions=_regions)
def emit_scan(ctx: KernelContext, node: Node) -> None:
    """Copy the initial carries in, run the steps (by groups of rows when the body allows), copy the
    final carries out."""
    b = ctx.builder
    loop = _Loop(ctx, node)
    k = loop.k
    # no scratch at all when there are no carries and the body needs no workspace
    scratch = ctx.scratch if ctx.scratch is not None else ir.Constant(PTR, None)
    carry_bytes = [ctx.sym(_step_bytes(c)) for c in loop.inputs[:k]]
    length, history = node.attrs["length"], [ctx.parts[k + j] for j in loop.compiled.history_parts]
    first_step = i64(length - 1 if node.attrs.get("reverse") else 0)
    starts = ([_offset(b, h, b.mul(first_step, n)) for h, n in zip(history, carry_bytes, strict=True)]
              if history else [_at(ctx, scratch, off) for off in loop.offsets])
    for dst, src, nbytes in zip(starts, node.inputs[:k], carry_bytes, strict=True):
        _memcpy(b, dst, ctx.ptr(src), nbytes)
    bases = [scratch, *(ctx.ptr(x) for x in node.inputs[k:]), *ctx.parts]
    if loop.compiled.by_rows:
        loop.by_groups(bases)
    else:
        loop.run(b, ctx.batch, bases, ctx.batch, i64(0), _at(ctx, scratch, _carry_room(node)))
    if history:
        return  # the last step wrote the final carries
    final = _at(ctx, scratch, loop.carry_size if length % 2 else Size())
    for part, off, nbytes in zip(ctx.parts[:k], loop.offsets, carry_bytes, strict=True):
        _memcpy(b, part, _at(ctx, final, off), nbytes)


def _offset(b: ir.IRBuilder, base: ir.Value, nbytes: ir.Value) -> ir.Value:
    return b.gep(base, [nbytes], inbounds=True, source_etype=ir.IntType(8))


def _at(ctx: KernelContext, base: ir.Value, offset: Size) -> ir.Value:
    """base + static + per_batch * N bytes."""
    if offset.static == 0 and offset.per_batch == 0:
        return base
    nbytes = ctx.builder.add(i64(offset.static), ctx.builder.mul(i64(offset.per_batch), ctx.batch))
    return ctx.builder.gep(base, [nbytes], inbounds=True, source_etype=ir.IntType(8))


def _memcpy(b: ir.IRBuilder, dst: ir.Value, src: ir.Value, nbytes: ir.Value) -> None:
    fn = intrinsic(b.module, "llvm.memcpy.p0.p0.i64", VOID, [PTR, PTR, I64, I1])
    b.call(fn, [dst, src, nbytes, ir.Constant(I1, 0)])
