"""Ops that move or replicate elements without arithmetic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc.ir.graph import Node
from graphc.ir.types import ShapeError, TensorType, broadcast_shapes, is_batch
from graphc.ops import builders as b
from graphc.ops.registry import EvalContext, Fusion, OpDef, OpKind, register


def _reshape_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    shape = tuple(attrs["shape"])
    if t.has_batch != any(is_batch(d) for d in shape) or sum(is_batch(d) for d in shape) > 1:
        raise ShapeError(f"reshape {t} -> {shape} must keep the batch dimension exactly once "
                         "(N, or k * N rows: BatchMultiple(k))")
    out = TensorType(shape, t.dtype)
    if out.static_numel != t.static_numel:
        raise ShapeError(f"reshape {t} -> {out} changes the element count")
    return out


def _reshape_reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray) -> np.ndarray:
    return x.reshape(TensorType(tuple(attrs["shape"])).concrete(ctx.batch))


RESHAPE = register(
    OpDef("reshape", OpKind.LAYOUT, 1, _reshape_infer, _reshape_reference,
          lambda n, g: [b.reshape(g, n.inputs[0].shape)], "row-major reshape; a view",
          fusion=Fusion.VIEW)
)


def _transpose_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(t.rank)):
        raise ShapeError(f"transpose permutation {perm} does not fit {t}")
    return TensorType(tuple(t.shape[p] for p in perm), t.dtype)


def _transpose_access(node: Node, operand: int) -> Sequence[int]:
    """Operand axis perm[j] is output axis j."""
    return np.argsort(node.attrs["perm"]).tolist()


def _transpose_grad(n: Node, g: Node) -> list[Node]:
    inverse = np.argsort(n.attrs["perm"]).tolist()
    return [b.transpose(g, inverse)]


TRANSPOSE = register(
    OpDef("transpose", OpKind.LAYOUT, 1, _transpose_infer,
          lambda attrs, ctx, x: np.ascontiguousarray(np.transpose(x, attrs["perm"])),
          _transpose_grad, "permute axes",
          scalar=lambda s, node, x: x, access=_transpose_access)
)


def _broadcast_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    shape = tuple(attrs["shape"])
    if broadcast_shapes(t.shape, shape) != shape:
        raise ShapeError(f"cannot broadcast {t} to {shape}")
    return TensorType(shape, t.dtype)


def _broadcast_reference(attrs: Mapping[str, Any], ctx: EvalContext, x: np.ndarray) -> np.ndarray:
    return np.broadcast_to(x, TensorType(tuple(attrs["shape"])).concrete(ctx.batch)).copy()


BROADCAST_TO = register(
    OpDef("broadcast_to", OpKind.LAYOUT, 1, _broadcast_infer, _broadcast_reference,
          lambda n, g: [b.unbroadcast(g, n.inputs[0].shape)], "replicate along broadcast axes",
          scalar=lambda s, node, x: x)
)
