"""The numpy reference interpreter: the oracle every compiled program is tested against."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from graphc.ir.graph import Graph, Node
from graphc.ops.evaluation import run_nodes, value_dtype
from graphc.ops.registry import EvalContext

__all__ = ["evaluate", "infer_batch", "value_dtype"]


def infer_batch(graph: Graph, feeds: Mapping[str, np.ndarray]) -> int:
    """The batch size implied by the fed inputs (1 when no input has a batch dim)."""
    batch: int | None = None
    for name, node in graph.inputs.items():
        if node.type.has_batch:
            axis = node.type.shape.index(None)
            size = np.shape(feeds[name])[axis]
            if batch is not None and size != batch:
                raise ValueError(f"inputs disagree on the batch size: {batch} vs {size} ({name!r})")
            batch = size
    return 1 if batch is None else batch


def evaluate(
    graph: Graph,
    feeds: Mapping[str, np.ndarray],
    state: Mapping[str, np.ndarray] | None = None,
    dtype: type = np.float32,
    batch: int | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Run every node with its reference semantics; returns (outputs, updated states)."""
    state = state or {}
    ctx = EvalContext(batch if batch is not None else infer_batch(graph, feeds), dtype)
    values: dict[Node, np.ndarray] = {}
    for node in graph.inputs.values():
        values[node] = _checked(node, feeds, ctx)
    for node in graph.states.values():
        values[node] = _checked(node, state, ctx)
    run_nodes(graph, values, ctx)
    outputs = {name: values[n] for name, n in graph.outputs.items()}
    updates = {name: values[n] for name, n in graph.updates.items()}
    return outputs, updates


def _checked(node: Node, source: Mapping[str, np.ndarray], ctx: EvalContext) -> np.ndarray:
    name = node.attrs["name"]
    if name not in source:
        raise KeyError(f"no value given for {node.op} {name!r}")
    value = np.asarray(source[name], dtype=value_dtype(node, ctx))
    expected = node.type.concrete(ctx.batch)
    if value.shape != expected:
        raise ValueError(f"{node.op} {name!r}: expected shape {expected}, got {value.shape}")
    return value
