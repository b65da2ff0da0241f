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
