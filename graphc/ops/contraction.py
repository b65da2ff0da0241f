"""Matrix products: matmul (rank 2, with a fused epilogue) and batch_matmul (rank 3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc.ir.graph import Node
from graphc.ir.types import ShapeError, TensorType
from graphc.ops import builders as b
from graphc.ops.registry import EvalContext, OpDef, OpKind, every_row, register


def _infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    ta, tb = types
    if ta.rank != 2 or tb.rank != 2:
        raise ShapeError(f"matmul needs rank-2 operands, got {ta} and {tb}")
    m, k = ta.shape[::-1] if attrs["transpose_a"] else ta.shape
    k2, n = tb.shape[::-1] if attrs["transpose_b"] else tb.shape
    if k != k2:
        raise ShapeError(f"matmul inner dimensions differ: {ta} @ {tb} ({k} vs {k2})")
    return TensorType((m, n), ta.dtype)


def _reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = x.T if attrs["transpose_a"] else x
    y = y.T if attrs["transpose_b"] else y
    return x @ y


def _gradient(n: Node, g: Node) -> list[Node]:
    x, y = n.inputs
    ta, tb = n.attrs["transpose_a"], n.attrs["transpose_b"]
    # C = op(A) op(B): dop(A) = G op(B)^T, dop(B) = op(A)^T G, transposed back if op was a transpose.
    if ta:
        ga = b.matmul(y, g, transpose_a=tb, transpose_b=True)
    else:
        ga = b.matmul(g, y, transpose_a=False, transpose_b=not tb)
    if tb:
        gb = b.matmul(g, x, transpose_a=True, transpose_b=ta)
    else:
        gb = b.matmul(x, g, transpose_a=not ta, transpose_b=False)
    return [ga, gb]


MATMUL = register(
    OpDef("matmul", OpKind.CONTRACTION, 2, _infer, _reference, _gradient,
          "op(a) @ op(b) for rank-2 operands, op being an optional transpose",
          epilogue=True, row_local=every_row)
)


def _batched_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    ta, tb = types
    if ta.rank != 3 or tb.rank != 3 or ta.shape[0] != tb.shape[0]:
        raise ShapeError(f"batch_matmul needs rank-3 operands with the same leading (batch) axis, "
                         f"got {ta} and {tb}")
    m, k = ta.shape[:0:-1] if attrs["transpose_a"] else ta.shape[1:]
    k2, n = tb.shape[:0:-1] if attrs["transpose_b"] else tb.shape[1:]
    if k != k2:
        raise ShapeError(f"batch_matmul inner dimensions differ: {ta} @ {tb} ({k} vs {k2})")
    if m is None or n is None or k is None:
        raise ShapeError(f"batch_matmul: only the leading axis may be the batch, got {ta} @ {tb}")
    return TensorType((ta.shape[0], m, n), ta.dtype)


def _batched_reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray,
                       y: np.ndarray) -> np.ndarray:
    x = np.swapaxes(x, 1, 2) if attrs["transpose_a"] else x
    y = np.swapaxes(y, 1, 2) if attrs["transpose_b"] else y
    return np.matmul(x, y)


def _batched_gradient(n: Node, g: Node) -> list[Node]:
    x, y = n.inputs
    ta, tb = n.attrs["transpose_a"], n.attrs["transpose_b"]
    ga = b.batch_matmul(y, g, tb, True) if ta else b.batch_matmul(g, y, False, not tb)
    gb = b.batch_matmul(g, x, True, ta) if tb else b.batch_matmul(x, g, not ta, False)
    return [ga, gb]


BATCH_MATMUL = register(
    OpDef("batch_matmul", OpKind.CONTRACTION, 2, _batched_infer, _batched_reference, _batched_gradient,
          "op(a[i]) @ op(b[i]) for every i of the leading axis (static or the batch)", row_local=every_row)
)
