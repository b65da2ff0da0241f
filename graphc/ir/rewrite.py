"""Rebuilding graphs: the mechanism behind every pure Graph -> Graph pass."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from graphc.ir.graph import Graph, Node

Rewriter = Callable[[Node, list[Node], Graph], Node | None]
INTERFACE = ("input", "state")  # never rewritten or dropped: the program's signature


def rebuild(graph: Graph, keep: Iterable[Node] | None = None, rewrite: Rewriter | None = None) -> Graph:
    """Copy `graph` node by node into a new graph.

    Only nodes in `keep` are copied (all when None); inputs and states are always kept so
    the program's interface never changes. `rewrite(node, new_inputs, new_graph)` may
    return a replacement node built in the new graph, or None to copy the node as is.
    """
    kept = None if keep is None else set(keep)
    order = [n for n in graph.nodes if kept is None or n in kept or n.op in INTERFACE]
    return copy_in_order(graph, order, rewrite)[0]


def copy_in_order(graph: Graph, order: Sequence[Node],
                  rewrite: Rewriter | None = None) -> tuple[Graph, dict[Node, Node]]:
    """A copy of `graph` with its nodes in `order` (a topological order of a subset that keeps
    every input and state) and the map from old to new nodes."""
    new = Graph(graph.name)
    mapping: dict[Node, Node] = {}
    for node in order:
        inputs = [mapping[i] for i in node.inputs]
        replacement = None if rewrite is None or node.op in INTERFACE else rewrite(node, inputs, new)
        mapping[node] = replacement if replacement is not None else _copy(node, inputs, new)
    for table, new_table in ((graph.inputs, new.inputs), (graph.states, new.states),
                             (graph.outputs, new.outputs), (graph.updates, new.updates)):
        for name, node in table.items():
            new_table[name] = mapping[node]
    return new, mapping


def copy_into(source: Graph, target: Graph, bound: Mapping[Node, Node],
              skip: Iterable[Node] = (), rewrite: Rewriter | None = None) -> dict[Node, Node]:
    """Copy every node of `source` into `target` (inlining it, e.g. a region into a gradient body):
    source nodes in `bound` become the given nodes, unbound inputs become inputs of `target` of the
    same name, and nodes in `skip` (inputs no one reads) are left out. `rewrite` may replace a
    node as in rebuild."""
    mapping: dict[Node, Node] = dict(bound)
    left_out = set(skip)
    for node in source.nodes:
        if node in mapping or node in left_out:
            continue
        if node.op == "input":
            mapping[node] = target.input(node.attrs["name"], node.type)
            continue
        inputs = [mapping[i] for i in node.inputs]
        replacement = None if rewrite is None else rewrite(node, inputs, target)
        mapping[node] = replacement if replacement is not None else _copy(node, inputs, target)
    return mapping


def _copy(node: Node, inputs: list[Node], graph: Graph) -> Node:
    with graph.scope(layer=node.layer, role=node.role):
        if node.op == "constant":
            copy = graph.constant(node.attrs["value"])
        else:
            copy = graph.add(node.op, inputs, node.attrs, name=node.name)
    copy.meta = dict(node.meta)
    return copy


def live_nodes(graph: Graph) -> set[Node]:
    """Nodes that some output or state update depends on, and every tuple_get of a live multi-output
    node (its kernel writes all of its values, so each keeps a node to be stored in)."""
    live: set[Node] = set(graph.roots())
    for node in reversed(graph.nodes):
        if node in live:
            live.update(node.inputs)
    live.update(n for n in graph.nodes if n.op == "tuple_get" and n.inputs[0] in live)
    return live
