"""`keras.ops` for custom layers: the functions a Keras 3 `call()` is written with, on the tensors
graphc traces (graph nodes), so a custom layer records into the compiled step like a built-in one.

Each function takes nodes, Python numbers or numpy arrays (made constants of the graph they meet);
on numbers and arrays alone it computes eagerly with numpy, as Keras's ops do on concrete values;
on the symbolic tensors of a functional model it records an operation layer (layers/operation.py).
Axes follow Keras: None for every axis, negative from the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any

import numpy as np

from graphc.frontend import activations
from graphc.frontend.layers.operation import symbolic
from graphc.ir.graph import Node
from graphc.ops import builders as b

__all__ = [
    "abs", "add", "cast", "clip", "concatenate", "divide", "dot", "elu", "exp", "expand_dims", "leaky_relu",
    "log", "matmul", "max", "maximum", "mean", "min", "minimum", "multiply", "negative", "relu", "reshape",
    "selu", "sigmoid", "silu", "softmax", "softplus", "sqrt", "square", "squeeze", "subtract", "sum", "swish",
    "tanh", "transpose", "true_divide",
]


def _graph_of(values: Sequence[Any]) -> Any:
    return next((v.graph for v in values if isinstance(v, Node)), None)


def _binary(numpy_fn: Any, graph_fn: Any, a: Any, c: Any) -> Any:
    graph = _graph_of([a, c])
    if graph is None:
        return numpy_fn(np.asarray(a, dtype=np.float32), np.asarray(c, dtype=np.float32))
    return graph_fn(graph.operand(a), graph.operand(c))


def add(x1: Any, x2: Any) -> Any:
    return _binary(np.add, lambda x, y: x + y, x1, x2)


def subtract(x1: Any, x2: Any) -> Any:
    return _binary(np.subtract, lambda x, y: x - y, x1, x2)


def multiply(x1: Any, x2: Any) -> Any:
    return _binary(np.multiply, lambda x, y: x * y, x1, x2)


def divide(x1: Any, x2: Any) -> Any:
    return _binary(np.divide, lambda x, y: x / y, x1, x2)


true_divide = divide


def maximum(x1: Any, x2: Any) -> Any:
    return _binary(np.maximum, b.maximum, x1, x2)


def minimum(x1: Any, x2: Any) -> Any:
    return _binary(np.minimum, b.minimum, x1, x2)


def _unary(numpy_fn: Any, graph_fn: Any, x: Any) -> Any:
    return graph_fn(x) if isinstance(x, Node) else numpy_fn(np.asarray(x, dtype=np.float32))


def negative(x: Any) -> Any:
    return _unary(np.negative, lambda n: -n, x)


def exp(x: Any) -> Any:
    return _unary(np.exp, b.exp, x)


def log(x: Any) -> Any:
    return _unary(np.log, b.log, x)


def sqrt(x: Any) -> Any:
    return _unary(np.sqrt, b.sqrt, x)


def square(x: Any) -> Any:
    return _unary(np.square, b.square, x)


def abs(x: Any) -> Any:  # noqa: A001 - Keras's name
    return _unary(np.abs, b.abs_, x)


def clip(x: Any, x_min: float, x_max: float) -> Any:
    return _unary(lambda v: np.clip(v, x_min, x_max), lambda n: b.minimum(b.maximum(n, x_min), x_max), x)


def _activation(name: str) -> Any:
    fn = activations.get(name)

    def apply(x: Any) -> Any:
        if not isinstance(x, Node):
            raise TypeError(f"ops.{name}: graphc applies activations to traced tensors, got "
                            f"{type(x).__name__}")
        return fn(x)

    apply.__name__ = name
    return apply


relu, sigmoid, tanh, softplus, elu, selu = (_activation(n) for n in ("relu", "sigmoid", "tanh", "softplus",
                                                                    "elu", "selu"))
silu = swish = _activation("swish")


def leaky_relu(x: Node, negative_slope: float = 0.2) -> Node:
    return b.maximum(x, x * negative_slope)


def softmax(x: Node, axis: int = -1) -> Node:
    axis = _axes(x, axis)[0]
    shifted = x - b.reduce_max(x, [axis], keepdims=True)
    e = b.exp(shifted)
    return e / b.reduce_sum(e, [axis], keepdims=True)


def matmul(x1: Any, x2: Any) -> Any:
    graph = _graph_of([x1, x2])
    if graph is None:
        return np.matmul(x1, x2)
    a, c = graph.operand(x1), graph.operand(x2)
    if a.type.rank == 2 and c.type.rank == 2:
        return b.matmul(a, c)
    if c.type.rank == 2 and a.type.rank in (3, 4):
        return b.last_axis_matmul(a, c)
    raise ValueError(f"ops.matmul: graphc multiplies (batch, n) or (batch, steps, n) by (n, m) matrices, got "
                     f"shapes {a.shape} and {c.shape}")


dot = matmul


def _axes(x: Node, axis: Any) -> list[int]:
    rank = x.type.rank
    if axis is None:
        return list(range(rank))
    axes = [axis] if isinstance(axis, int) else list(axis)
    return sorted(a + rank if a < 0 else a for a in axes)


def _reduction(numpy_fn: Any, graph_fn: Any) -> Any:
    def reduce(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        if not isinstance(x, Node):
            return numpy_fn(np.asarray(x, dtype=np.float32), axis=axis, keepdims=keepdims)
        return graph_fn(x, _axes(x, axis), keepdims=keepdims)

    return reduce


sum = _reduction(np.sum, b.reduce_sum)  # noqa: A001 - Keras's name
mean = _reduction(np.mean, b.reduce_mean)
max = _reduction(np.max, b.reduce_max)  # noqa: A001 - Keras's name
min = _reduction(np.min, lambda x, axes, keepdims: -b.reduce_max(-x, axes, keepdims=keepdims))  # noqa: A001


def reshape(x: Node, newshape: Sequence[int]) -> Node:
    """-1 in the batch position (or a None) keeps the batch; another -1 takes what is left."""
    shape = list(newshape)
    if shape and (shape[0] is None or (shape[0] == -1 and x.shape[0] is None)):
        shape[0] = None
    rest = [d for d in shape[1:] if d != -1]
    sample = prod(d for d in x.shape[1:] if d is not None)
    if -1 in shape[1:]:
        shape[shape.index(-1, 1)] = sample // prod(rest) if rest else sample
    return b.reshape(x, tuple(shape))


def transpose(x: Node, axes: Sequence[int] | None = None) -> Node:
    perm = list(axes) if axes is not None else list(range(x.type.rank))[::-1]
    return b.transpose(x, [a + x.type.rank if a < 0 else a for a in perm])


def concatenate(xs: Sequence[Node], axis: int = 0) -> Node:
    rank = xs[0].type.rank
    return b.concatenate(list(xs), axis + rank if axis < 0 else axis)


def expand_dims(x: Node, axis: int) -> Node:
    rank = x.type.rank
    axis = axis + rank + 1 if axis < 0 else axis
    return b.reshape(x, (*x.shape[:axis], 1, *x.shape[axis:]))


def squeeze(x: Node, axis: int | Sequence[int] | None = None) -> Node:
    drop = [i for i, d in enumerate(x.shape) if d == 1] if axis is None else _axes(x, axis)
    return b.reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in drop))


def cast(x: Any, dtype: str) -> Any:
    if not isinstance(x, Node):
        return np.asarray(x, dtype=dtype)
    return x if x.type.dtype == dtype else b.cast(x, dtype)


def _registered() -> None:
    """Every public op also records a TensorOperation when given symbolic tensors (functional
    models, subclassed models' call), under its Keras name."""
    names = globals()
    for name in __all__:
        names[name] = symbolic(name)(names[name])


_registered()
