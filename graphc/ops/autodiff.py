"""Reverse-mode differentiation that appends the backward graph as ordinary nodes.

It lives with the op catalogue because ops holding regions differentiate their regions with it
(a scan's gradient is a reverse scan whose body is the differentiated forward body).
"""

from __future__ import annotations

from collections.abc import Sequence

from graphc.ir.graph import Graph, Node
from graphc.ir.types import TupleType
from graphc.ops import builders as b
from graphc.ops.registry import Fusion, get_op


def gradients(loss: Node, wrt: Sequence[Node]) -> list[Node]:
    """d(loss)/d(w) for each w, as nodes of loss's graph (zeros where w is unused)."""
    graph: Graph = loss.graph
    if loss.shape != ():
        raise ValueError(f"gradients need a scalar loss, got {loss.type}")
    needed = _nodes_between(graph, loss, wrt)
    grads: dict[Node, Node] = {}
    parts: dict[Node, list[Node | None]] = {}  # multi-output nodes: one gradient per value
    with graph.scope(role="backward"):
        grads[loss] = graph.constant(1.0)
        for node in reversed(graph.nodes[: graph.nodes.index(loss) + 1]):
            if node not in needed or not node.inputs:
                continue
            if get_op(node.op).fusion is Fusion.PART:  # one value of a multi-output node
                if node in grads:
                    (tuple_node,) = node.inputs
                    slots = parts.setdefault(tuple_node, [None] * len(tuple_node.type))
                    index = node.attrs["index"]
                    slots[index] = grads[node] if slots[index] is None else slots[index] + grads[node]
                continue
            multi = isinstance(node.type, TupleType)
            if (node not in parts) if multi else (node not in grads):
                continue
            rule = get_op(node.op).gradient
            if rule is None:
                continue
            with graph.scope(layer=node.layer):
                contributions = rule(node, parts[node] if multi else grads[node])
            for src, contribution in zip(node.inputs, contributions, strict=True):
                if contribution is None or src not in needed:
                    continue
                grads[src] = grads[src] + contribution if src in grads else contribution
        return [grads[w] if w in grads else b.zeros(graph, w.shape) for w in wrt]


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
