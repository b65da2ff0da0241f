"""The op catalogue: every primitive op is defined exactly once, here registered."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from graphc.ir.types import TensorType

if TYPE_CHECKING:
    from graphc.ir.graph import Node


class OpKind(enum.Enum):
    """What fusion and lowering need to know about an op."""

    SOURCE = "source"
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    CONTRACTION = "contraction"
    LAYOUT = "layout"
    RANDOM = "random"
    INDEXING = "indexing"


InferRule = Callable[[Sequence[TensorType], Mapping[str, Any]], TensorType]
ReferenceRule = Callable[..., np.ndarray]
GradientRule = Callable[["Node", "Node"], Sequence["Node | None"]]


@dataclass(frozen=True)
class OpDef:
    """Shape/dtype rule, numpy reference semantics, gradient rule and kind of one op.

    `reference(attrs, ctx, *arrays)` computes the value; `ctx` carries the runtime
    batch size and the float dtype the interpreter runs in. `gradient(node, grad)`
    returns one vector-Jacobian product per input (None where no gradient flows),
    built from other ops in the node's graph.
    """

    name: str
    kind: OpKind
    arity: int | None
    infer: InferRule
    reference: ReferenceRule
    gradient: GradientRule | None = None
    doc: str = ""


@dataclass(frozen=True)
class EvalContext:
    batch: int
    dtype: type = np.float32


_REGISTRY: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in _REGISTRY:
        raise ValueError(f"op {opdef.name!r} defined twice")
    _REGISTRY[opdef.name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}") from None


def all_ops() -> dict[str, OpDef]:
    _ensure_loaded()
    return dict(_REGISTRY)


def _ensure_loaded() -> None:
    from graphc.ops import catalogue  # noqa: F401  (registers every op on import)
