"""The memory planner: where every value lives (an argument buffer, the arena or a constant).

Computed values are written straight into the output buffer that returns them, or into the
state they update when no later read of the old state value exists (the old value may still
be read at the very element being written, inside the same pointwise kernel). Everything
else lives in one workspace arena whose size is `static + per_batch * N` bytes:

- liveness: a value's storage is free once the last kernel reading it has run, so values
  whose live intervals do not meet share a slot (greedy by size, best fit; a slot is reused
  only by a value whose static and per-batch sizes both fit in it);
- in place: a pointwise kernel writes an output over an input of exactly its shape that dies
  in that kernel and is read there only at the element being written.

Slots are laid out one after another, each rounded up to 64 bytes in both parts, so every
offset is affine in N and aligned. `before_planning` is what one slot per value would take.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graphc.codegen.liveness import PROLOGUE, Interval, epilogue, readers, root, value_intervals
from graphc.codegen.lowering.pointwise import PointwisePlan
from graphc.codegen.lowering.registry import find_lowering
from graphc.ir.affine import Sym, numel
from graphc.ir.graph import Graph, Node
from graphc.passes.kernels import Kernel

__all__ = ["ALIGN", "ArenaEntry", "BufferPlan", "Copy", "Location", "Size", "assign_buffers", "root"]

ALIGN = 64


@dataclass(frozen=True)
class Location:
    """kind "arg" (index into the args array), "workspace" or "constant" (index = node id)."""

    kind: str
    index: int = 0
    static: int = 0
    per_batch: int = 0


@dataclass(frozen=True)
class Size:
    """`static + per_batch * N` bytes."""

    static: int = 0
    per_batch: int = 0

    @staticmethod
    def of(nbytes: Sym) -> Size:
        if nbytes.power == 0:
            return Size(nbytes.coef, 0)
        if nbytes.power == 1:
            return Size(0, nbytes.coef)
        raise ValueError(f"buffer of {nbytes.coef} * N**{nbytes.power} bytes is not affine in N")

    def aligned(self) -> Size:
        return Size(_aligned(self.static), _aligned(self.per_batch))

    def fits(self, other: Size) -> bool:
        """Both parts of `other` are no larger than ours."""
        return other.static <= self.static and other.per_batch <= self.per_batch

    def at(self, batch: int) -> int:
        return self.static + self.per_batch * batch

    def __add__(self, other: Size) -> Size:
        return Size(self.static + other.static, self.per_batch + other.per_batch)


@dataclass(frozen=True)
class Copy:
    dst: Location
    src: Location
    nbytes: Sym


@dataclass(frozen=True)
class ArenaEntry:
    """One value (a Node), state snapshot ("snapshot", name) or kernel scratch ("scratch", p) in the arena."""

    key: object
    location: Location
    size: Size
    interval: Interval


@dataclass
class BufferPlan:
    locations: dict[Node, Location]
    scratch: dict[int, Location]
    prologue: list[Copy]
    epilogue: list[Copy]
    static_bytes: int = 0
    per_batch_bytes: int = 0
    before_planning: Size = Size()
    arena: list[ArenaEntry] = field(default_factory=list)
    in_place: dict[Node, Node] = field(default_factory=dict)

    @property
    def arena_size(self) -> Size:
        return Size(self.static_bytes, self.per_batch_bytes)

    def workspace_manifest(self) -> dict[str, Any]:
        before = self.before_planning
        return {
            "static_bytes": self.static_bytes,
            "per_batch_bytes": self.per_batch_bytes,
            "before_planning": {"static_bytes": before.static, "per_batch_bytes": before.per_batch},
            "in_place_writes": len(self.in_place),
        }


def _aligned(nbytes: int) -> int:
    return -(-nbytes // ALIGN) * ALIGN


def _nbytes(node: Node) -> Sym:
    return numel(node.shape) * node.type.itemsize


@dataclass
class _Slot:
    size: Size
    busy: list[Interval] = field(default_factory=list)

    def free_during(self, interval: Interval) -> bool:
        return not any(interval.overlaps(b) for b in self.busy)


def pack(requests: Sequence[tuple[object, Size, Interval]]) -> tuple[dict[object, Location], Size]:
    """Slots for (key, aligned size, live interval) requests; keys live at the same time never overlap.

    Largest first (per-batch size, then static), each into the free slot it fits with the least
    waste, else a new slot. Static-only slots come first so their offsets do not depend on N.
    """
    slots: list[_Slot] = []
    chosen: dict[object, int] = {}
    order = sorted(range(len(requests)), key=lambda i: (-requests[i][1].per_batch, -requests[i][1].static, i))
    for i in order:
        key, size, interval = requests[i]
        fitting = [s for s, slot in enumerate(slots) if slot.size.fits(size) and slot.free_during(interval)]
        if fitting:
            best = min(fitting, key=lambda s: (slots[s].size.per_batch - size.per_batch,
                                               slots[s].size.static - size.static, s))
        else:
            best = len(slots)
            slots.append(_Slot(size))
        slots[best].busy.append(interval)
        chosen[key] = best
    layout = sorted(range(len(slots)), key=lambda s: (slots[s].size.per_batch > 0, s))
    offsets: dict[int, Size] = {}
    end = Size()
    for s in layout:
        offsets[s] = end
        end = end + slots[s].size
    locations = {
        key: Location("workspace", static=offsets[s].static, per_batch=offsets[s].per_batch)
        for key, s in chosen.items()
    }
    return locations, end


def assign_buffers(graph: Graph, kernels: Sequence[Kernel]) -> BufferPlan:
    """Arguments are numbered inputs, then states, then outputs (the manifest order)."""
    names = [("input", n) for n in graph.inputs] + [("state", n) for n in graph.states]
    names += [("output", n) for n in graph.outputs]
    arg = {key: i for i, key in enumerate(names)}

    position = {out: p for p, kernel in enumerate(kernels) for out in kernel.outputs}
    reads = readers(kernels)
    read_at_end = {root(node) for node in graph.outputs.values()}
    aligned_cache: dict[int, set[Node]] = {}

    def aligned(p: int) -> set[Node]:
        if p not in aligned_cache:
            kernel = kernels[p]
            aligned_cache[p] = PointwisePlan(kernel).aligned_inputs() if kernel.is_pointwise else set()
        return aligned_cache[p]

    def writable_in_place(state: Node, value: Node) -> bool:
        if state in read_at_end:
            return False
        p = position[value]
        for q, src in reads.get(state, []):
            if q > p or (q == p and src not in aligned(p)):
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

    output_copies: list[tuple[Location, Node]] = []
    for name, node in graph.outputs.items():
        dst, r = Location("arg", arg[("output", name)]), root(node)
        if r in position and r not in home:
            home[r] = dst
        else:
            output_copies.append((dst, r))
    end = epilogue(kernels)
    requests: list[tuple[object, Size, Interval]] = []
    state_copies: list[tuple[Location, Node | tuple[str, str], Sym]] = []
    for name, node in graph.updates.items():
        state, r = graph.states[name], root(node)
        if r is state:
            continue
        if r in position and r not in home and writable_in_place(state, r):
            home[r] = home[state]
        elif r.op == "state":
            requests.append((("snapshot", name), Size.of(_nbytes(r)).aligned(), Interval(PROLOGUE, end)))
            state_copies.append((home[state], ("snapshot", name), _nbytes(r)))
        else:
            state_copies.append((home[state], r, _nbytes(r)))

    intervals = value_intervals(graph, kernels)
    in_arena = [node for node in position if node not in home]
    group, in_place = _in_place_groups(kernels, in_arena, intervals, reads, aligned)
    group_interval: dict[Node, Interval] = {}
    for node in in_arena:
        g = group[node]
        group_interval[g] = intervals[node] if g not in group_interval else group_interval[g].union(
            intervals[node])
    for g, interval in group_interval.items():
        requests.append((g, Size.of(_nbytes(g)).aligned(), interval))
    scratch_keys: dict[int, tuple[str, int]] = {}
    for p, kernel in enumerate(kernels):
        rule = _scratch_rule(kernel)
        wanted = rule(kernel.nodes[0]) if rule is not None else 0
        size = wanted if isinstance(wanted, Size) else Size(wanted)
        if size.static > 0 or size.per_batch > 0:
            scratch_keys[p] = ("scratch", p)
            requests.append((scratch_keys[p], size.aligned(), Interval(p, p)))
    slots, total = pack(requests)
    for node in in_arena:
        home[node] = slots[group[node]]

    prologue = []
    for name, node in graph.updates.items():
        r = root(node)
        if r.op == "state" and r is not graph.states[name]:
            prologue.append(Copy(slots[("snapshot", name)], home[r], _nbytes(r)))
    epilogue_copies = [Copy(dst, home[r], _nbytes(r)) for dst, r in output_copies]
    for dst, src, nbytes in state_copies:
        epilogue_copies.append(Copy(dst, slots[src] if isinstance(src, tuple) else home[src], nbytes))
    locations = {node: home[root(node)] for node in graph.nodes if root(node) in home}
    scratch = {p: slots[key] for p, key in scratch_keys.items()}

    entries = [ArenaEntry(n, home[n], Size.of(_nbytes(n)).aligned(), intervals[n]) for n in in_arena]
    entries += [ArenaEntry(key, slots[key], size, interval) for key, size, interval in requests
                if isinstance(key, tuple)]
    before = Size()
    for entry in entries:
        before = before + entry.size
    return BufferPlan(locations, scratch, prologue, epilogue_copies, total.static, total.per_batch,
                      before, entries, in_place)


def _scratch_rule(kernel: Kernel) -> Any:
    """The scratch rule of a kernel op alone, at the head of an epilogue kernel or with its values
    (nodes[0]); it gives a byte count or a Size that grows with N (a scan's body workspace)."""
    if len(kernel.nodes) != 1 and kernel.epilogue_head is None and not kernel.parts:
        return None
    lowering = find_lowering(kernel.nodes[0].op)
    return lowering.scratch_bytes if lowering is not None else None


def _in_place_groups(
    kernels: Sequence[Kernel], in_arena: Sequence[Node], intervals: dict[Node, Interval],
    reads: dict[Node, list[tuple[int, Node]]], aligned: Any,
) -> tuple[dict[Node, Node], dict[Node, Node]]:
    """Chains of values sharing one slot: an output written over an input that dies in its kernel.

    Returns each arena value's group (the first value of its chain) and, for every value written
    in place, the input it overwrites.
    """
    arena = set(in_arena)
    group = {node: node for node in in_arena}
    in_place: dict[Node, Node] = {}
    for p, kernel in enumerate(kernels):
        if not kernel.is_pointwise:
            continue
        taken: set[Node] = set()
        for out in kernel.outputs:
            if out not in arena:
                continue
            for src in kernel.inputs:
                victim = root(src)
                if victim in taken or victim not in arena or intervals[victim].end != p:
                    continue
                here = [s for q, s in reads[victim] if q == p]
                # Same shape and element size: element i is read at the bytes element i is written to.
                if all(s in aligned(p) and s.shape == out.shape and s.type.itemsize == out.type.itemsize
                       for s in here):
                    group[out] = group[victim]
                    in_place[out] = victim
                    taken.add(victim)
                    break
    return group, in_place
