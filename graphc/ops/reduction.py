"""Reductions over a set of axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc.ir.graph import Node
from graphc.ir.types import Dim, ShapeError, TensorType
from graphc.ops import builders as b
from graphc.ops.registry import EvalContext, OpDef, OpKind, every_row, register


def reduced_shape(shape: Sequence[Dim], axes: Sequence[int], keepdims: bool) -> tuple[Dim, ...]:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    for axis in attrs["axes"]:
        if not 0 <= axis < t.rank:
            raise ShapeError(f"reduction axis {axis} out of range for {t}")
    return TensorType(reduced_shape(t.shape, attrs["axes"], attrs["keepdims"]), t.dtype)


def _expand_grad(n: Node, g: Node) -> Node:
    """The output gradient reshaped with kept dims and broadcast back to the input shape."""
    x = n.inputs[0]
    kept = reduced_shape(x.shape, n.attrs["axes"], True)
    return b.broadcast_to(b.reshape(g, kept), x.shape)


def _sum_reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray) -> np.ndarray:
    return np.sum(x, axis=tuple(attrs["axes"]), keepdims=attrs["keepdims"], dtype=x.dtype)


def _max_reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray) -> np.ndarray:
    return np.max(x, axis=tuple(attrs["axes"]), keepdims=attrs["keepdims"])


def _max_grad(n: Node, g: Node) -> list[Node]:
    x = n.inputs[0]
    kept = reduced_shape(x.shape, n.attrs["axes"], True)
    winners = b.equal(x, b.reshape(n, kept))
    return [_expand_grad(n, g) * winners]


REDUCE_SUM = register(
    OpDef("reduce_sum", OpKind.REDUCTION, 1, _infer, _sum_reference,
          lambda n, g: [_expand_grad(n, g)], "sum over `axes`", accumulates=True,
          row_local=every_row)
)
REDUCE_MAX = register(
    OpDef("reduce_max", OpKind.REDUCTION, 1, _infer, _max_reference, _max_grad,
          "maximum over `axes`; every tied maximum receives the gradient",
          accumulates=True, row_local=every_row)
)


def _argmax_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    if not 0 <= attrs["axis"] < t.rank:
        raise ShapeError(f"argmax axis {attrs['axis']} out of range for {t}")
    return TensorType(reduced_shape(t.shape, (attrs["axis"],), False), t.dtype)


def _argmax_reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray) -> np.ndarray:
    return np.argmax(x, axis=attrs["axis"]).astype(x.dtype)


ARGMAX = register(
    OpDef("argmax", OpKind.REDUCTION, 1, _argmax_infer, _argmax_reference, None,
          "index of the first maximum along `axis`, as a float; no gradient", row_local=every_row)
)
