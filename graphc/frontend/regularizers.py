"""Weight penalties (K3 `keras/src/regularizers`): a scalar node added to the batch loss as is.

As in K3, `l1`, `l2` and `l1_l2` are the classes themselves, so `l1_l2()` defaults to zero
penalties (TFK's function `l1_l2` defaulted to 0.01 each).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphc.ir.graph import Node
from graphc.ops import builders as b


def _factor(owner: str, name: str, value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
        raise ValueError(f"{owner}: `{name}` must be a non-negative float, got {value!r}")
    return float(value)


class Regularizer:
    """`__call__(weight) -> scalar node`; `get_config()` gives the Keras arguments."""

    def __call__(self, w: Node) -> Node:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _l1(w: Node, factor: float) -> Node:
    return factor * b.reduce_sum(b.abs_(w))


def _l2(w: Node, factor: float) -> Node:
    return factor * b.reduce_sum(b.square(w))


class L1(Regularizer):
    """l1 * sum(|w|). `l=` is TFK's legacy spelling of `l1`."""

    def __init__(self, l1: float = 0.01, **kwargs: Any) -> None:
        self.l1 = _factor("L1", "l1", _legacy_l("L1", l1, kwargs))

    def __call__(self, w: Node) -> Node:
        return _l1(w, self.l1)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 * sum(w^2). `l=` is TFK's legacy spelling of `l2`."""

    def __init__(self, l2: float = 0.01, **kwargs: Any) -> None:
        self.l2 = _factor("L2", "l2", _legacy_l("L2", l2, kwargs))

    def __call__(self, w: Node) -> Node:
        return _l2(w, self.l2)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


class L1L2(Regularizer):
    """l1 * sum(|w|) + l2 * sum(w^2); terms with a zero factor are left out of the graph."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor("L1L2", "l1", l1)
        self.l2 = _factor("L1L2", "l2", l2)

    def __call__(self, w: Node) -> Node:
        terms = ([_l1(w, self.l1)] if self.l1 else []) + ([_l2(w, self.l2)] if self.l2 else [])
        if not terms:
            return w.graph.constant(0.0)
        return terms[0] + terms[1] if len(terms) == 2 else terms[0]

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


def _legacy_l(owner: str, value: Any, kwargs: dict[str, Any]) -> Any:
    legacy = kwargs.pop("l", None)
    if kwargs:
        raise TypeError(f"{owner}: unexpected keyword arguments {sorted(kwargs)}")
    return value if legacy is None else legacy


l1 = L1
l2 = L2
l1_l2 = L1L2

_CLASSES: dict[str, type[Regularizer]] = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2,
                                          "l1_l2": L1L2}


def get(identifier: Any) -> Regularizer | Callable[[Node], Node] | None:
    """None, 'l1'/'l2'/'l1_l2' (default factors), an instance, or a {"class_name", "config"} dict."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _CLASSES:
            raise ValueError(f"unknown regularizer {identifier!r}; known regularizers: l1, l2, l1_l2")
        return _CLASSES[identifier]()
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if name not in _CLASSES:
            raise ValueError(f"unknown regularizer class {name!r} in config; known: L1, L2, L1L2")
        args = dict(identifier.get("config") or {})
        try:
            return _CLASSES[name].from_config(args)
        except TypeError as err:
            raise ValueError(f"bad config for regularizer {name!r}: {args} ({err})") from None
    if callable(identifier):
        return identifier
    raise ValueError(f"cannot interpret {identifier!r} as a regularizer")


def serialize(regularizer: Regularizer | None) -> dict[str, Any] | None:
    """The K3 form: {"module", "class_name", "config", "registered_name"}; None stays None."""
    if regularizer is None:
        return None
    if not isinstance(regularizer, Regularizer):
        raise ValueError(f"cannot serialize regularizer {regularizer!r}: not a graphc Regularizer")
    return {"module": "keras.regularizers", "class_name": type(regularizer).__name__,
            "config": regularizer.get_config(), "registered_name": None}
