"""Reverse-mode differentiation that appends the backward graph as ordinary nodes."""

from __future__ import annotations

from collections.abc import Sequence

from graphc.ir.graph import Graph, Node
from graphc.ops import builders as b
from graphc.ops.registry import get_op


def gradients(loss: Node, wrt: Sequence[Node]) -> list[Node]:
    """d(loss)/d(w) for each w, as nodes of loss's graph (zeros where w is unused)."""
    graph: Graph = loss.graph
    if loss.shape != ():
        raise ValueError(f"gradients need a scalar loss, got {loss.type}")
    needed = _nodes_between(graph, loss, wrt)
    grads: dict[Node, Node] = {}
    with graph.scope(role="backward"):
        grads[loss] = graph.constant(1.0)
        for node in reversed(graph.nodes[: graph.nodes.index(loss) + 1]):
            if node not in grads or node not in needed or not node.inputs:
                continue
            rule = get_op(node.op).gradient
            if rule is None:
                continue
            with graph.scope(layer=node.layer):
                contributions = rule(node, grads[node])
            for src, contribution in zip(node.inputs, contributions, strict=True):
                if contribution is None or src not in needed:
                    continue
                grads[src] = grads[src] + contribution if src in grads else contribution
        return [grads[w] if w in grads else b.broadcast_to(graph.constant(0.0), w.shape) for w in wrt]


def _nodes_between(graph: Graph, loss: Node, wrt: Sequence[Node]) -> set[Node]:
    """Nodes on some path from one of `wrt` to `loss`: the only ones worth differentiating."""
    depends: set[Node] = set(wrt)
    for node in graph.nodes:
        if any(i in depends for i in node.inputs):
            depends.add(node)
    reaches: set[Node] = {loss}
    for node in reversed(graph.nodes):
        if node in reaches:
            reaches.update(node.inputs)
    return depends & reaches
