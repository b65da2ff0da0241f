"""Structural checks every graph must pass, run after building and after each pass."""

from __future__ import annotations

from graphc.ir.graph import Graph
from graphc.ir.signatures import signature
from graphc.ir.types import BatchMultiple, TensorType


class GraphError(ValueError):
    """The graph is malformed: a bug in the frontend or in a pass."""


def verify(graph: Graph, region: bool = False) -> None:
    """Checks `graph` and, recursively, the regions its nodes hold (their own rules check that a
    region fits its node's operands; a region's arguments may hold k * N rows, a program's not)."""
    seen: set[int] = set()
    ids: set[int] = set()
    for node in graph.nodes:
        if node.id in ids:
            raise GraphError(f"duplicate node id {node.id}")
        ids.add(node.id)
        opdef = signature(node.op)
        if opdef.arity is not None and len(node.inputs) != opdef.arity:
            raise GraphError(f"{node!r}: {node.op} takes {opdef.arity} inputs, has {len(node.inputs)}")
        for src in node.inputs:
            if id(src) not in seen:
                raise GraphError(f"{node!r} uses {src!r} before it is defined")
        for nested in node.regions:
            try:
                verify(nested, region=True)
            except GraphError as error:
                raise GraphError(f"in the region of {node!r}: {error}") from error
        expected = opdef.infer([i.type for i in node.inputs], node.attrs)
        if expected != node.type:
            raise GraphError(f"{node!r}: recorded type {node.type} but the rule gives {expected}")
        seen.add(id(node))
    for kind, table in (("input", graph.inputs), ("state", graph.states)):
        for name, node in table.items():
            if node.op != kind or id(node) not in seen:
                raise GraphError(f"{kind} {name!r} is not a {kind} node of this graph")
    for name, node in graph.outputs.items():
        if id(node) not in seen:
            raise GraphError(f"output {name!r} is not a node of this graph")
    for kind, table in (("input", graph.inputs), ("state", graph.states), ("output", graph.outputs)):
        for name, node in table.items() if not region else ():
            if isinstance(node.type, TensorType) and any(isinstance(d, BatchMultiple) for d in node.shape):
                raise GraphError(f"{kind} {name!r} has type {node.type}: a program's arguments have N rows "
                                 "(the runtime sizes them by the batch), reshape k * N rows back first")
    for name, node in graph.updates.items():
        if name not in graph.states:
            raise GraphError(f"update of unknown state {name!r}")
        if node.type != graph.states[name].type:
            raise GraphError(f"update of {name!r} has type {node.type}, state is {graph.states[name].type}")
