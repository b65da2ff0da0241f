"""The tf.* functions TensorFlow tutorials call in custom training loops, on graphc's tensors.

Each is a keras.ops function (or a graph builder) through `on_tensors`: recorded on an open
GradientTape, computed eagerly by the reference interpreter otherwise, and the graph function
itself on traced nodes (inside a custom layer's call). Values are float32, as graphc computes them;
argmax and equal give float class indices and 0/1 masks (the IR has no booleans).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc.frontend import tensor_ops
from graphc.frontend.layers.base import Weight
from graphc.frontend.recording import Arithmetic, Tensor, on_tensors
from graphc.ops import builders as b

_DTYPES = {"float32": np.float32, "float64": np.float32, "float16": np.float32, "bool": np.float32,
           "int32": np.int32, "int64": np.int64}


def _dtype(dtype: Any) -> Any:
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in _DTYPES:
        raise ValueError(f"graphc computes in float32, int32 and int64; got dtype {dtype!r}")
    return _DTYPES[name]


def constant(value: Any, dtype: Any = None, shape: Sequence[int] | None = None,
             name: str | None = None) -> Tensor:
    """A tensor holding `value` (float32 unless an integer dtype is asked for)."""
    array = np.asarray(value.numpy() if isinstance(value, (Tensor, Weight)) else value,
                       dtype=_dtype(dtype or "float32"))
    return Tensor(np.broadcast_to(array, tuple(shape)).copy() if shape is not None else array)


def convert_to_tensor(value: Any, dtype: Any = None, dtype_hint: Any = None, name: str | None = None) -> Any:
    """`value` itself if it is a tensor already, else a constant of it."""
    if isinstance(value, (Tensor, Variable)) and dtype is None:
        return value
    return constant(value, dtype or dtype_hint)


def _reduction(fn: Callable[..., Any]) -> Callable[..., Any]:
    lifted = on_tensors(fn)

    def reduce(input_tensor: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Any:
        return lifted(_operand(input_tensor), axis=axis, keepdims=keepdims)

    reduce.__name__ = f"reduce_{fn.__name__}"
    reduce.__doc__ = f"tf.math.reduce_{fn.__name__}: keras.ops.{fn.__name__} over `axis` (all when None)."
    return reduce


reduce_sum = _reduction(tensor_ops.sum)
reduce_mean = _reduction(tensor_ops.mean)
reduce_max = _reduction(tensor_ops.max)
reduce_min = _reduction(tensor_ops.min)


def _unary(fn: Callable[[Any], Any], name: str) -> Callable[..., Any]:
    lifted = on_tensors(fn)

    def apply(x: Any, name: str | None = None) -> Any:
        return lifted(_operand(x))

    apply.__name__ = name
    apply.__doc__ = f"tf.math.{name}, elementwise."
    return apply


square = _unary(tensor_ops.square, "square")
sqrt = _unary(tensor_ops.sqrt, "sqrt")
exp = _unary(tensor_ops.exp, "exp")
log = _unary(tensor_ops.log, "log")
abs = _unary(tensor_ops.abs, "abs")  # noqa: A001 - TensorFlow's name
_maximum, _minimum = on_tensors(tensor_ops.maximum), on_tensors(tensor_ops.minimum)
_cast, _argmax, _equal = on_tensors(tensor_ops.cast), on_tensors(b.argmax), on_tensors(b.equal)
_matmul, _reshape = on_tensors(tensor_ops.matmul), on_tensors(tensor_ops.reshape)


def maximum(x: Any, y: Any, name: str | None = None) -> Any:
    return _maximum(_operand(x), y)


def minimum(x: Any, y: Any, name: str | None = None) -> Any:
    return _minimum(_operand(x), y)


def cast(x: Any, dtype: Any, name: str | None = None) -> Any:
    """float32 / int32 / int64 (booleans and other floats are float32 here)."""
    return _cast(_operand(x), np.dtype(_dtype(dtype)).name)


def argmax(input: Any, axis: int | None = None, output_type: Any = None, name: str | None = None) -> Any:  # noqa: A002
    """The index of the largest value along `axis` (TensorFlow's default: axis 0), as a float."""
    return _argmax(_operand(input), 0 if axis is None else axis)


def equal(x: Any, y: Any, name: str | None = None) -> Any:
    """1.0 where x == y, else 0.0."""
    return _equal(_operand(x), y)


def matmul(a: Any, b: Any, name: str | None = None) -> Any:
    return _matmul(_operand(a), b)


def reshape(tensor: Any, shape: Sequence[int], name: str | None = None) -> Any:
    return _reshape(_operand(tensor), shape)


def add_n(inputs: Sequence[Any], name: str | None = None) -> Any:
    """The elementwise sum of a list of tensors."""
    total = inputs[0]
    for item in inputs[1:]:
        total = total + item
    return total


def _operand(value: Any) -> Any:
    """Python numbers and lists as float32 arrays; tensors, weights, arrays and nodes as they are."""
    if isinstance(value, (int, float, list, tuple)):
        return np.asarray(value, dtype=np.float32)
    return value


def function(func: Callable[..., Any] | None = None, **options: Any) -> Any:
    """tf.function, as a decorator with or without arguments: the function runs as written. What
    it records on a GradientTape is compiled once per structure anyway (frontend/tape_programs.py),
    so tracing it again would add nothing."""
    if func is None:
        return lambda inner: inner
    return func


_VARIABLES = itertools.count()


class Variable(Weight, Arithmetic):
    """tf.Variable: a trainable float32 value outside any layer that tapes watch and optimizers
    update, with TensorFlow's arithmetic and assign methods."""

    def __init__(self, initial_value: Any, trainable: bool = True, name: str | None = None,
                 dtype: Any = None, **kwargs: Any) -> None:
        value = np.array(initial_value, dtype=np.float32)
        super().__init__(f"variables/{next(_VARIABLES)}_{name or 'Variable'}", value, trainable)
        self.name = name or "Variable"

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def read_value(self) -> Tensor:
        return Tensor(self.numpy())

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return np.asarray(self.numpy(), dtype=dtype)

    def __float__(self) -> float:
        return float(self.numpy())

    def assign_add(self, delta: Any) -> None:
        self.assign(self.numpy() + np.asarray(delta, dtype=np.float32))

    def assign_sub(self, delta: Any) -> None:
        self.assign(self.numpy() - np.asarray(delta, dtype=np.float32))


__all__ = [
    "Variable", "abs", "add_n", "argmax", "cast", "constant", "convert_to_tensor", "equal", "exp", "function",
    "log", "matmul", "maximum", "minimum", "reduce_max", "reduce_mean", "reduce_min", "reduce_sum", "reshape",
    "sqrt", "square",
]
