"""Keras activation functions as graph builders, with the K3 formulas (TensorFlow backend).

Gradients at kinks follow TensorFlow: relu, relu6 and hard_sigmoid pass no gradient at their
corners, so the comparisons are arranged for the `maximum`/`minimum` tie rule (ties go to `a`).
"""

from __future__ import annotations

from collections.abc import Callable

from graphc.ir.graph import Node
from graphc.ops import builders as b

SELU_ALPHA = 1.67326324
SELU_SCALE = 1.05070098


def _relu_core(x: Node) -> Node:
    """max(x, 0) whose gradient at 0 is 0, as tf.nn.relu's: the tie goes to the constant."""
    return b.maximum(x.graph.constant(0.0), x)


def linear(x: Node) -> Node:
    return x


def relu(x: Node, negative_slope: float = 0.0, max_value: float | None = None,
         threshold: float = 0.0) -> Node:
    """K3 `ReLU.static_call`: x above `threshold` (clipped to `max_value`), else slope*(x - threshold)."""
    if negative_slope != 0.0 and max_value is None and threshold == 0.0:
        return leaky_relu(x, negative_slope)
    if threshold != 0.0:
        y = x * b.greater(x, float(threshold))
    elif max_value == 6:
        return _with_slope(relu6(x), x, negative_slope, threshold)
    else:
        y = _relu_core(x)
    if max_value is not None:
        y = b.clip(y, 0.0, float(max_value))
    return _with_slope(y, x, negative_slope, threshold)


def _with_slope(y: Node, x: Node, negative_slope: float, threshold: float) -> Node:
    if negative_slope == 0.0:
        return y
    return y - float(negative_slope) * _relu_core(float(threshold) - x)


def relu6(x: Node) -> Node:
    return b.minimum(x.graph.constant(6.0), _relu_core(x))


def leaky_relu(x: Node, negative_slope: float = 0.2) -> Node:
    """tf.nn.leaky_relu: x where x > 0, else slope*x (the gradient at 0 is the slope)."""
    return b.select(b.greater(x, 0.0), x, x * float(negative_slope))


def sigmoid(x: Node) -> Node:
    y = b.sigmoid(x)
    y.meta["logits"] = ("sigmoid", x)
    return y


def hard_sigmoid(x: Node) -> Node:
    """K3: relu6(x + 3) / 6 (Keras 2 used clip(0.2x + 0.5, 0, 1) instead)."""
    return relu6(x + 3.0) / 6.0


def tanh(x: Node) -> Node:
    return b.tanh(x)


def softmax(x: Node, axis: int = -1) -> Node:
    """exp(x - max) / sum(exp(x - max)) along `axis`; the logits are kept for crossentropy losses."""
    if x.type.rank == 0:
        raise ValueError("softmax: the input must have rank >= 1, got a scalar")
    if not -x.type.rank <= axis < x.type.rank:
        raise ValueError(f"softmax: `axis` must be in [{-x.type.rank}, {x.type.rank}), got {axis}")
    e = b.exp(x - b.reduce_max(x, (axis,), keepdims=True))
    y = e / b.reduce_sum(e, (axis,), keepdims=True)
    if axis % x.type.rank == x.type.rank - 1:
        y.meta["logits"] = ("softmax", x)
    return y


def log_softmax(x: Node, axis: int = -1) -> Node:
    shifted = x - b.reduce_max(x, (axis,), keepdims=True)
    return shifted - b.log(b.reduce_sum(b.exp(shifted), (axis,), keepdims=True))


SOFTPLUS_TAIL = -13.942385  # log(float32 epsilon) + 2: below it log(1 + e^x) rounds to 0, e^x does not


def softplus(x: Node) -> Node:
    """log(1 + e^x) as max(x, 0) + log(1 + e^-|x|), which never overflows; e^x in the far negative
    tail, where 1 + e^x rounds to 1 (TensorFlow's threshold, so softplus(-20) = 2.06e-9 as in Keras)."""
    stable = _relu_core(x) + b.log(1.0 + b.exp(-b.abs_(x)))
    return b.select(b.greater_equal(x, SOFTPLUS_TAIL), stable, b.exp(x))


def softsign(x: Node) -> Node:
    return x / (1.0 + b.abs_(x))


def elu(x: Node, alpha: float = 1.0) -> Node:
    """x where x > 0 else alpha*(e^x - 1); exp sees min(x, 0) so the unused branch stays finite."""
    negative = float(alpha) * (b.exp(b.minimum(x, 0.0)) - 1.0)
    return b.select(b.greater(x, 0.0), x, negative)


def selu(x: Node) -> Node:
    return SELU_SCALE * elu(x, SELU_ALPHA)


def exponential(x: Node) -> Node:
    return b.exp(x)


def silu(x: Node) -> Node:
    return x * b.sigmoid(x)


def hard_silu(x: Node) -> Node:
    return x * hard_sigmoid(x)


def mish(x: Node) -> Node:
    return x * b.tanh(softplus(x))


_BY_NAME: dict[str, Callable[..., Node]] = {
    fn.__name__: fn
    for fn in (linear, relu, relu6, leaky_relu, sigmoid, hard_sigmoid, tanh, softmax, log_softmax,
               softplus, softsign, elu, selu, exponential, silu, hard_silu, mish)
}
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}


def get(identifier: str | Callable[..., Node] | None) -> Callable[..., Node]:
    """An activation by Keras name, a callable as is, or linear for None."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier, identifier)
        if name not in _BY_NAME:
            known = ", ".join(sorted(set(_BY_NAME) | set(_ALIASES)))
            raise ValueError(f"unknown activation {identifier!r}; known activations: {known}")
        return _BY_NAME[name]
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name, a callable or None, got {identifier!r}")


def serialize(fn: Callable[..., Node]) -> str:
    """The Keras name of an activation; a custom function is named by its __name__, as Keras does."""
    for name, known in _BY_NAME.items():
        if fn is known:
            return name
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or name == "<lambda>":
        raise ValueError(f"cannot serialize activation {fn!r}: it has no name")
    return name
