"""Operations on symbolic tensors: `x + y`, `x * 2.0` or `keras.ops.concatenate([a, b])` on the
KerasTensors of a functional model (or of a subclassed model's call) become a layer of the graph,
as Keras 3 records an operation node there.

`keras.ops` functions register here by name (`symbolic`), so a saved model names its operations
and loads them back from this table only: nothing a file names is imported or run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from graphc.frontend.layers.base import (
    CallContext,
    KerasTensor,
    Layer,
    set_operation_factory,
    shape_of_list_call,
)
from graphc.frontend.layers.naming import unique_name
from graphc.ir.graph import Node

OPS: dict[str, Callable[..., Any]] = {
    "add": lambda a, c: a + c,
    "subtract": lambda a, c: a - c,
    "multiply": lambda a, c: a * c,
    "divide": lambda a, c: a / c,
    "negative": lambda a: -a,
}
_TENSOR = "__tensor__"


class TensorOperation(Layer):
    """One operation applied to symbolic tensors (and constants): `op` names it in OPS; its
    arguments are kept with the tensors replaced by placeholders."""

    takes_list = True
    supports_masking = True

    def __init__(self, op: str, arguments: list[Any] | None = None,
                 keyword_arguments: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if op not in OPS:
            raise ValueError(f"TensorOperation: unknown operation {op!r}; graphc records {sorted(OPS)}")
        super().__init__(**{**kwargs, "name": kwargs.get("name") or unique_name(op)})  # named as Keras 3 does
        self.op = op
        self.arguments = list(arguments or [])
        self.keyword_arguments = dict(keyword_arguments or {})

    def __call__(self, inputs: Any, training: Any = None, **kwargs: Any) -> KerasTensor:  # type: ignore[override]
        tensors = list(inputs)
        shape = self.output_shape_for([t.shape for t in tensors])
        self.output_shape = shape
        return KerasTensor(shape, self, tensors)

    def output_shape_for(self, input_shape: Any) -> Any:
        return shape_of_list_call(self, input_shape, f"operation {self.name!r} ({self.op})")

    def call(self, x: Any, ctx: CallContext) -> Node:
        tensors = list(x)
        return OPS[self.op](*_filled(self.arguments, tensors), **_filled(self.keyword_arguments, tensors))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "op": self.op, "arguments": self.arguments,
                "keyword_arguments": self.keyword_arguments}


def _placeholders(value: Any, tensors: list[KerasTensor]) -> Any:
    """value with each KerasTensor (also inside lists, tuples and dicts) replaced by its index."""
    if isinstance(value, KerasTensor):
        tensors.append(value)
        return {_TENSOR: len(tensors) - 1}
    if isinstance(value, (list, tuple)):
        return [_placeholders(item, tensors) for item in value]
    if isinstance(value, dict):
        return {key: _placeholders(item, tensors) for key, item in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):  # a numpy number is a plain number (and saves as one)
        return value.item()
    raise TypeError(f"an operation on symbolic tensors takes tensors and plain numbers, got "
                    f"{type(value).__name__}")


def _filled(value: Any, nodes: list[Node]) -> Any:
    if isinstance(value, dict) and set(value) == {_TENSOR}:
        return nodes[value[_TENSOR]]
    if isinstance(value, list):
        return [_filled(item, nodes) for item in value]
    if isinstance(value, dict):
        return {key: _filled(item, nodes) for key, item in value.items()}
    return value


def _has_tensor(value: Any) -> bool:
    if isinstance(value, KerasTensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_tensor(item) for item in value)
    if isinstance(value, dict):
        return any(_has_tensor(item) for item in value.values())
    return False


def apply_operation(op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> KerasTensor:
    """The layer call recording `OPS[op](*args, **kwargs)` on symbolic tensors."""
    tensors: list[KerasTensor] = []
    arguments = _placeholders(list(args), tensors)
    keyword_arguments = _placeholders(dict(kwargs), tensors)
    layer = TensorOperation(op, arguments, keyword_arguments)
    return layer(tensors)


def symbolic(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a keras.ops function under `name`; given symbolic tensors it records a
    TensorOperation instead of computing."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        OPS[name] = fn

        @functools.wraps(fn)
        def dispatch(*args: Any, **kwargs: Any) -> Any:
            if _has_tensor(args) or _has_tensor(kwargs):
                return apply_operation(name, args, kwargs)
            return fn(*args, **kwargs)

        return dispatch

    return register


set_operation_factory(apply_operation)
