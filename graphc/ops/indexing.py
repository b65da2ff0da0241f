"""Ops that turn class indices into dense values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from graphc.ir.types import TensorType
from graphc.ops.registry import EvalContext, OpDef, OpKind, register


def _reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray) -> np.ndarray:
    return (x[..., None] == np.arange(attrs["depth"])).astype(x.dtype)


ONE_HOT = register(
    OpDef("one_hot", OpKind.INDEXING, 1,
          lambda types, attrs: TensorType(types[0].shape + (attrs["depth"],), types[0].dtype),
          _reference, None,
          "1.0 where the last index equals the (float) class index, else 0.0; no gradient")
)
