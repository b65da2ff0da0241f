"""Running a graph with the ops' numpy reference semantics: the core of the reference interpreter,
here so that ops holding regions (a scan runs its body once per step) evaluate them too."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import numpy as np

from graphc.ir.graph import Graph, Node
from graphc.ir.types import TupleType
from graphc.ops.registry import EvalContext, get_op


def value_dtype(node: Node, ctx: EvalContext) -> np.dtype:
    """Float values in the interpreter's precision; integer values (indices, counters) exactly."""
    return np.dtype(ctx.dtype) if node.type.is_float else np.dtype(node.type.dtype)


def run_nodes(graph: Graph, values: MutableMapping[Node, Any], ctx: EvalContext) -> None:
    """Compute every node of `graph` not already in `values` (the caller supplies its sources)."""
    for node in graph.nodes:
        if node in values:
            continue
        result = get_op(node.op).reference(node.attrs, ctx, *(values[i] for i in node.inputs))
        if isinstance(node.type, TupleType):
            values[node] = tuple(np.asarray(part, dtype=ctx.dtype if t.is_float else t.dtype)
                                 for part, t in zip(result, node.type.parts, strict=True))
        else:
            values[node] = np.asarray(result, dtype=value_dtype(node, ctx))
