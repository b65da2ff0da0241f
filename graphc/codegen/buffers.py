"""Where every value lives: an argument buffer, a workspace slot or a constant.

Kept apart from code emission so a memory planner with buffer reuse can replace it.
Computed values are written straight into the output buffer that returns them, or into
the state they update when no later read of the old state value exists (the old value
may still be read at the very element being written, inside the same pointwise kernel).
Everything else gets its own 64-byte aligned workspace slot at `static + per_batch * N`
bytes; state updates that could not be written in place are copied in at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from graphc.codegen.affine import Sym, numel
from graphc.codegen.kernels import Kernel
from graphc.codegen.lowering.pointwise import PointwisePlan
from graphc.codegen.lowering.registry import LoweringKind, get_lowering
from graphc.ir.graph import Graph, Node

ALIGN = 64


@dataclass(frozen=True)
class Location:
    """kind "arg" (index into the args array), "workspace" or "constant" (index = node id)."""

    kind: str
    index: int = 0
    static: int = 0
    per_batch: int = 0


@dataclass(frozen=True)
class Copy:
    dst: Location
    src: Location
    nbytes: Sym


@dataclass
class BufferPlan:
    locations: dict[Node, Location]
    scratch: dict[int, Location]
    prologue: list[Copy]
    epilogue: list[Copy]
    static_bytes: int = 0
    per_batch_bytes: int = 0


@dataclass
class _Workspace:
    """Collects slot requests, then lays out static slots first and per-batch slots after."""

    requests: list[tuple[object, Sym]] = field(default_factory=list)

    def request(self, key: object, nbytes: Sym) -> None:
        self.requests.append((key, nbytes))

    def layout(self) -> tuple[dict[object, Location], int, int]:
        static = 0
        per_batch = 0
        for _, nbytes in self.requests:
            if nbytes.power == 0:
                static += _aligned(nbytes.coef)
        offsets: dict[object, Location] = {}
        static_at = 0
        for key, nbytes in self.requests:
            if nbytes.power == 0:
                offsets[key] = Location("workspace", static=static_at)
                static_at += _aligned(nbytes.coef)
            elif nbytes.power == 1:
                offsets[key] = Location("workspace", static=static, per_batch=per_batch)
                per_batch += _aligned(nbytes.coef)
            else:
                raise ValueError(f"buffer of {nbytes.coef} * N**{nbytes.power} bytes is not affine in N")
        return offsets, static, per_batch


def _aligned(nbytes: int) -> int:
    return -(-nbytes // ALIGN) * ALIGN


def _nbytes(node: Node) -> Sym:
    return numel(node.shape) * 4


def root(node: Node) -> Node:
    """The node whose storage a chain of views shares."""
    while get_lowering(node.op).kind is LoweringKind.VIEW:
        node = node.inputs[0]
    return node


def assign_buffers(graph: Graph, kernels: Sequence[Kernel]) -> BufferPlan:
    """Arguments are numbered inputs, then states, then outputs (the manifest order)."""
    names = [("input", n) for n in graph.inputs] + [("state", n) for n in graph.states]
    names += [("output", n) for n in graph.outputs]
    arg = {key: i for i, key in enumerate(names)}

    position = {out: p for p, kernel in enumerate(kernels) for out in kernel.outputs}
    readers: dict[Node, list[tuple[int, Node]]] = {}
    for p, kernel in enumerate(kernels):
        for src in kernel.inputs:
            readers.setdefault(root(src), []).append((p, src))
    read_at_end = {root(node) for node in graph.outputs.values()}

    def writable_in_place(state: Node, value: Node) -> bool:
        if state in read_at_end:
            return False
        p = position[value]
        for q, src in readers.get(state, []):
            if q > p:
                return False
            if q == p and not (kernels[p].is_pointwise and src in PointwisePlan(kernels[p]).aligned_inputs()):
                return False
        return True

    home: dict[Node, Location] = {}
    for name, node in graph.inputs.items():
        home[node] = Location("arg", arg[("input", name)])
    for name, node in graph.states.items():
        home[node] = Location("arg", arg[("state", name)])
    for node in graph.nodes:
        if node.op == "constant":
            home[node] = Location("constant", node.id)

    workspace = _Workspace()
    output_copies: list[tuple[Location, Node]] = []
    for name, node in graph.outputs.items():
        dst, r = Location("arg", arg[("output", name)]), root(node)
        if r in position and r not in home:
            home[r] = dst
        else:
            output_copies.append((dst, r))
    state_copies: list[tuple[Location, Node | tuple[str, str], Sym]] = []
    for name, node in graph.updates.items():
        state, r = graph.states[name], root(node)
        if r is state:
            continue
        if r in position and r not in home and writable_in_place(state, r):
            home[r] = home[state]
        elif r.op == "state":
            workspace.request(("snapshot", name), _nbytes(r))
            state_copies.append((home[state], ("snapshot", name), _nbytes(r)))
        else:
            state_copies.append((home[state], r, _nbytes(r)))
    for node in position:
        if node not in home:
            workspace.request(node, _nbytes(node))
    scratch_keys: dict[int, tuple[str, int]] = {}
    for p, kernel in enumerate(kernels):
        rule = get_lowering(kernel.nodes[0].op).scratch_bytes
        nbytes = rule(kernel.nodes[0]) if rule is not None and len(kernel.nodes) == 1 else 0
        if nbytes > 0:
            scratch_keys[p] = ("scratch", p)
            workspace.request(scratch_keys[p], Sym(nbytes))
    slots, static, per_batch = workspace.layout()
    for node in position:
        if node not in home:
            home[node] = slots[node]

    prologue = []
    for name, node in graph.updates.items():
        r = root(node)
        if r.op == "state" and r is not graph.states[name]:
            prologue.append(Copy(slots[("snapshot", name)], home[r], _nbytes(r)))
    epilogue = [Copy(dst, home[r], _nbytes(r)) for dst, r in output_copies]
    for dst, src, nbytes in state_copies:
        epilogue.append(Copy(dst, slots[src] if isinstance(src, tuple) else home[src], nbytes))
    locations = {node: home[root(node)] for node in graph.nodes if root(node) in home}
    scratch = {p: slots[key] for p, key in scratch_keys.items()}
    return BufferPlan(locations, scratch, prologue, epilogue, static, per_batch)
