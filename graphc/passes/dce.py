"""Dead-code elimination."""

from __future__ import annotations

from graphc.ir.graph import Graph
from graphc.ir.rewrite import live_nodes, rebuild


def eliminate_dead_code(graph: Graph) -> Graph:
    """Drop nodes no output or state update depends on (autodiff leaves many: unused input grads)."""
    return rebuild(graph, keep=live_nodes(graph))
