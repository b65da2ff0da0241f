"""Weight constraints (KERAS_REFERENCE_LAYERS.md 6): applied inside the compiled training step to the
updated value of each constrained weight, after the optimizer's update, never at initialisation.

With n = sqrt(sum(w^2, axis, keepdims)) and eps = 1e-7: MaxNorm w * clip(n, 0, max) / (eps + n),
NonNeg w * (w >= 0), UnitNorm w / (eps + n), MinMaxNorm w * (rate*clip(n, min, max) + (1-rate)*n) / (eps + n).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphc.ir.graph import Node
from graphc.ops import builders as b

EPSILON = 1e-7


class Constraint:
    """`__call__(weight) -> constrained weight` (graph nodes); `get_config()` gives the Keras arguments."""

    def __call__(self, w: Node) -> Node:
        return w

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _axes(axis: int | Sequence[int], rank: int) -> list[int]:
    axes = [axis] if isinstance(axis, int) else list(axis)
    return [a % rank for a in axes]


def _norms(w: Node, axis: int | Sequence[int]) -> Node:
    return b.sqrt(b.reduce_sum(b.square(w), _axes(axis, w.type.rank), keepdims=True))


class MaxNorm(Constraint):
    """Norms along `axis` clipped to max_value (Keras 1: maxnorm(m=2))."""

    def __init__(self, max_value: float = 2.0, axis: int | Sequence[int] = 0, **kwargs: Any) -> None:
        if "m" in kwargs:
            max_value = kwargs.pop("m")
        if kwargs:
            raise TypeError(f"MaxNorm: unexpected arguments {sorted(kwargs)}")
        self.max_value = float(max_value)
        self.axis = axis if isinstance(axis, int) else list(axis)

    def __call__(self, w: Node) -> Node:
        norms = _norms(w, self.axis)
        return w * (b.clip(norms, 0.0, self.max_value) / (norms + EPSILON))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Negative entries set to 0."""

    def __call__(self, w: Node) -> Node:
        return w * b.greater_equal(w, 0.0)


class UnitNorm(Constraint):
    """Norms along `axis` set to 1."""

    def __init__(self, axis: int | Sequence[int] = 0) -> None:
        self.axis = axis if isinstance(axis, int) else list(axis)

    def __call__(self, w: Node) -> Node:
        return w / (_norms(w, self.axis) + EPSILON)

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Norms along `axis` moved `rate` of the way into [min_value, max_value]."""

    def __init__(
        self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: int | Sequence[int] = 0
    ) -> None:
        self.min_value, self.max_value, self.rate = float(min_value), float(max_value), float(rate)
        self.axis = axis if isinstance(axis, int) else list(axis)

    def __call__(self, w: Node) -> Node:
        norms = _norms(w, self.axis)
        desired = b.clip(norms, self.min_value, self.max_value) * self.rate + norms * (1.0 - self.rate)
        return w * (desired / (norms + EPSILON))

    def get_config(self) -> dict[str, Any]:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


max_norm = maxnorm = MaxNorm
non_neg = nonneg = NonNeg
unit_norm = unitnorm = UnitNorm
min_max_norm = MinMaxNorm

_CLASSES: dict[str, type[Constraint]] = {cls.__name__: cls for cls in (MaxNorm, NonNeg, UnitNorm, MinMaxNorm)}
_STRINGS: dict[str, type[Constraint]] = {
    "max_norm": MaxNorm,
    "maxnorm": MaxNorm,
    "non_neg": NonNeg,
    "nonneg": NonNeg,
    "unit_norm": UnitNorm,
    "unitnorm": UnitNorm,
    "min_max_norm": MinMaxNorm,
}


def get(identifier: Any) -> Constraint | Callable[[Node], Node] | None:
    """A constraint from None, a name, a {"class_name", "config"} dict, a class or an instance."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        cls = _STRINGS.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(f"unknown constraint {identifier!r}; known: {sorted(_STRINGS | _CLASSES)}")
        return cls()
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        cls = _CLASSES.get(name) or _STRINGS.get(name) if isinstance(name, str) else None
        if cls is None:
            raise ValueError(f"unknown constraint class {name!r} in config; known: {sorted(_CLASSES)}")
        return cls.from_config(dict(identifier.get("config") or {}))
    if isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"cannot interpret {identifier!r} as a constraint")


def serialize(constraint: Any) -> dict[str, Any] | None:
    if constraint is None:
        return None
    if not isinstance(constraint, Constraint):
        raise ValueError(f"cannot serialize constraint {constraint!r}: not a graphc Constraint")
    return {
        "module": "keras.constraints",
        "class_name": type(constraint).__name__,
        "config": constraint.get_config(),
        "registered_name": None,
    }
