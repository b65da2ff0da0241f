"""When each stored value is live, counted in kernel positions.

A value occupies memory from the kernel that writes it to the last kernel that reads it
(through any chain of views). Position -1 stands for the prologue and `len(kernels)` for
the epilogue, so values copied out at the end stay live to the end. Two values whose
intervals do not meet can share storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from graphc.ir.graph import Graph, Node
from graphc.ops.registry import Fusion, get_op
from graphc.passes.kernels import Kernel

PROLOGUE = -1


@dataclass(frozen=True)
class Interval:
    """Kernel positions `start..end`, both included."""

    start: int
    end: int

    def overlaps(self, other: Interval) -> bool:
        return self.start <= other.end and other.start <= self.end

    def union(self, other: Interval) -> Interval:
        return Interval(min(self.start, other.start), max(self.end, other.end))


def root(node: Node) -> Node:
    """The node whose storage a chain of views shares."""
    while get_op(node.op).fusion is Fusion.VIEW:
        node = node.inputs[0]
    return node


def epilogue(kernels: Sequence[Kernel]) -> int:
    return len(kernels)


def value_intervals(graph: Graph, kernels: Sequence[Kernel]) -> dict[Node, Interval]:
    """The live interval of every value a kernel stores."""
    live: dict[Node, Interval] = {}
    for p, kernel in enumerate(kernels):
        for out in kernel.outputs:
            live[out] = Interval(p, p)
    for p, kernel in enumerate(kernels):
        for src in kernel.inputs:
            r = root(src)
            if r in live:
                live[r] = live[r].union(Interval(p, p))
    end = epilogue(kernels)
    for node in graph.roots():
        r = root(node)
        if r in live:
            live[r] = live[r].union(Interval(end, end))
    return live


def readers(kernels: Sequence[Kernel]) -> dict[Node, list[tuple[int, Node]]]:
    """For each storage root: (kernel position, the node the kernel reads: the root or a view of it)."""
    result: dict[Node, list[tuple[int, Node]]] = {}
    for p, kernel in enumerate(kernels):
        for src in kernel.inputs:
            result.setdefault(root(src), []).append((p, src))
    return result
