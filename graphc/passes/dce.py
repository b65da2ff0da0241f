"""Dead-code elimination."""

from __future__ import annotations

from graphc.ir.graph import Graph
from graphc.ir.rewrite import live_nodes, rebuild
from graphc.passes.manager import Counters, graph_pass


def eliminate_dead_code(graph: Graph) -> Graph:
    """Drop nodes no output or state update depends on (autodiff leaves many: unused input grads)."""
    return rebuild(graph, keep=live_nodes(graph))


@graph_pass("dce")
def dce(graph: Graph) -> tuple[Graph, Counters]:
    """Drop nodes that no output or state update depends on (inputs and states always stay)."""
    result = eliminate_dead_code(graph)
    return result, {"removed": len(graph.nodes) - len(result.nodes)}
