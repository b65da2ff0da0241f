"""Ops with no operands: program inputs, persistent state, constants and the batch size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc.ir.types import TensorType, scalar
from graphc.ops.registry import EvalContext, Fusion, OpDef, OpKind, register


def _declared(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    return attrs["type"]


def _fed(attrs: Mapping[str, Any], ctx: EvalContext) -> np.ndarray:
    raise RuntimeError(f"{attrs['name']!r} is fed by the caller, not computed")


INPUT = register(OpDef("input", OpKind.SOURCE, 0, _declared, _fed, None, "a value fed per call"))
STATE = register(
    OpDef("state", OpKind.SOURCE, 0, _declared, _fed, None,
          "a persistent buffer owned by the runtime (parameter, optimizer slot, counter)")
)
def _constant_value(attrs: Mapping[str, Any], ctx: EvalContext) -> np.ndarray:
    value = attrs["value"]
    return value.astype(ctx.dtype) if value.dtype == np.float32 else value


CONSTANT = register(
    OpDef("constant", OpKind.SOURCE, 0,
          lambda types, attrs: TensorType(tuple(attrs["value"].shape), attrs["value"].dtype.name),
          _constant_value, None, "a compile-time array (float32, int32 or int64); one element is inlined",
          fusion=Fusion.STORAGE, inline=lambda node: node.attrs["value"].size == 1,
          scalar=lambda s, node: s.constant(node.attrs["value"].reshape(-1)[0].item(), node.type.dtype))
)
BATCH_SIZE = register(
    OpDef("batch_size", OpKind.SOURCE, 0, lambda types, attrs: scalar(),
          lambda attrs, ctx: np.array(ctx.batch, dtype=ctx.dtype), None,
          "the runtime batch size N as a float scalar",
          fusion=Fusion.POINTWISE, scalar=lambda s, node: s.batch(), inline=lambda node: True,
          row_local=lambda node: False)
)
