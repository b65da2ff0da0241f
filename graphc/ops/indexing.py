"""Ops that turn class indices into dense values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc.ir.affine import Sym, unit_stride
from graphc.ir.graph import Node
from graphc.ir.types import TensorType
from graphc.ops.registry import EvalContext, OpDef, OpKind, every_row, register
from graphc.ops.scalar import Scalar, Value


def _reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray) -> np.ndarray:
    return (x[..., None] == np.arange(attrs["depth"])).astype(x.dtype)


def _leading_axes(node: Node, operand: int) -> Sequence[int]:
    """The indices operand fills every axis but the new class axis."""
    return list(range(node.inputs[0].type.rank))


def _class_axis(node: Node) -> list[tuple[Sym, ...]]:
    return [unit_stride(node.type.rank, node.type.rank - 1)]


def _one_hot_scalar(s: Scalar, node: Node, x: Value) -> Value:
    klass = s.cast(s.index(0), "int64", "float32")
    return s.mask(s.compare("==", x, klass))


ONE_HOT = register(
    OpDef("one_hot", OpKind.INDEXING, 1,
          lambda types, attrs: TensorType(types[0].shape + (attrs["depth"],), types[0].dtype),
          _reference, None,
          "1.0 where the last index equals the (float) class index, else 0.0; no gradient",
          scalar=_one_hot_scalar, access=_leading_axes, index_streams=_class_axis, row_local=every_row)
)
