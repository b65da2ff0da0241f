"""Kernels: the groups of nodes that each become one native loop nest.

Today every computing node is its own kernel; a fusion pass will hand over larger groups
of SCALAR nodes, which the pointwise emitter already evaluates as one loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.codegen.lowering.registry import LoweringKind, get_lowering
from graphc.ir.graph import Graph, Node


@dataclass(frozen=True)
class Kernel:
    """`nodes` in topological order; `outputs` are the values stored for use outside."""

    nodes: tuple[Node, ...]
    outputs: tuple[Node, ...]

    @property
    def is_pointwise(self) -> bool:
        return all(get_lowering(n.op).kind is LoweringKind.SCALAR for n in self.nodes)

    @property
    def inputs(self) -> tuple[Node, ...]:
        """Values read from outside the kernel, in first-use order."""
        inside = set(self.nodes)
        seen: dict[Node, None] = {}
        for node in self.nodes:
            for src in node.inputs:
                if src not in inside:
                    seen.setdefault(src)
        return tuple(seen)

    @property
    def name(self) -> str:
        return "_".join(dict.fromkeys(n.op for n in self.nodes))


def live_nodes(graph: Graph) -> list[Node]:
    """Nodes some output or state update depends on, in graph order."""
    needed: set[Node] = set(graph.roots())
    for node in reversed(graph.nodes):
        if node in needed:
            needed.update(node.inputs)
    return [n for n in graph.nodes if n in needed]


def partition(graph: Graph) -> list[Kernel]:
    """One kernel per live node that computes something (sources and views need no code)."""
    kernels = []
    for node in live_nodes(graph):
        if get_lowering(node.op).kind in (LoweringKind.SCALAR, LoweringKind.KERNEL):
            kernels.append(Kernel((node,), (node,)))
    return kernels
