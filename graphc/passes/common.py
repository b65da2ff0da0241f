"""Helpers shared by the rewriting passes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import live_nodes, rebuild


def add_like(node: Node, graph: Graph, op: str, inputs: Sequence[Node], attrs: Mapping[str, Any]) -> Node:
    """A new node in `graph` that keeps `node`'s layer and role (errors and diagrams still name them)."""
    with graph.scope(layer=node.layer, role=node.role):
        return graph.add(op, inputs, attrs)


def prune(graph: Graph) -> Graph:
    """Drop what a rewrite left unused, so each pass accounts for the nodes it made dead."""
    live = live_nodes(graph)
    if all(n in live or n.op in ("input", "state") for n in graph.nodes):
        return graph
    return rebuild(graph, keep=live)


def freeze(value: Any) -> Any:
    """A hashable stand-in for an attribute value (arrays by dtype, shape and bytes)."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    return value


def is_constant(node: Node, value: float | None = None) -> bool:
    """A constant node, equal to `value` everywhere when one is given."""
    if node.op != "constant":
        return False
    return value is None or bool(np.all(node.attrs["value"] == value))


def copy_in_order(graph: Graph, order: Sequence[Node]) -> tuple[Graph, dict[Node, Node]]:
    """A copy of `graph` with its nodes in `order` (a topological order of a subset that keeps
    every input and state) and the map from old to new nodes."""
    new = Graph(graph.name)
    mapping: dict[Node, Node] = {}
    for node in order:
        with new.scope(layer=node.layer, role=node.role):
            if node.op == "constant":
                copy = new.constant(node.attrs["value"])
            else:
                copy = new.add(node.op, [mapping[i] for i in node.inputs], node.attrs, name=node.name)
        copy.meta = dict(node.meta)
        mapping[node] = copy
    for table, new_table in ((graph.inputs, new.inputs), (graph.states, new.states),
                             (graph.outputs, new.outputs), (graph.updates, new.updates)):
        for name, node in table.items():
            new_table[name] = mapping[node]
    return new, mapping
