"""Rebuilding graphs: the mechanism behind every pure Graph -> Graph pass."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from graphc.ir.graph import Graph, Node

Rewriter = Callable[[Node, list[Node], Graph], Node | None]


def rebuild(graph: Graph, keep: Iterable[Node] | None = None, rewrite: Rewriter | None = None) -> Graph:
    """Copy `graph` node by node into a new graph.

    Only nodes in `keep` are copied (all when None); inputs and states are always kept so
    the program's interface never changes. `rewrite(node, new_inputs, new_graph)` may
    return a replacement node built in the new graph, or None to copy the node as is.
    """
    kept = None if keep is None else set(keep)
    new = Graph(graph.name)
    mapping: dict[Node, Node] = {}
    for node in graph.nodes:
        is_interface = node.op in ("input", "state")
        if kept is not None and node not in kept and not is_interface:
            continue
        inputs = [mapping[i] for i in node.inputs]
        replacement = None if rewrite is None or is_interface else rewrite(node, inputs, new)
        if replacement is None:
            replacement = _copy(node, inputs, new)
        mapping[node] = replacement
    for name, node in graph.inputs.items():
        new.inputs[name] = mapping[node]
    for name, node in graph.states.items():
        new.states[name] = mapping[node]
    for name, node in graph.outputs.items():
        new.outputs[name] = mapping[node]
    for name, node in graph.updates.items():
        new.updates[name] = mapping[node]
    return new


def _copy(node: Node, inputs: list[Node], graph: Graph) -> Node:
    with graph.scope(layer=node.layer, role=node.role):
        if node.op == "constant":
            copy = graph.constant(node.attrs["value"])
        else:
            copy = graph.add(node.op, inputs, node.attrs, name=node.name)
    copy.meta = dict(node.meta)
    return copy


def live_nodes(graph: Graph) -> set[Node]:
    """Nodes that some output or state update depends on."""
    live: set[Node] = set(graph.roots())
    for node in reversed(graph.nodes):
        if node in live:
            live.update(node.inputs)
    return live
