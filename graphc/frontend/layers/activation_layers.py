"""The activation layers (Keras 3 `layers/activations/`): ReLU, ELU, Softmax, PReLU, and Keras 2's
ThresholdedReLU; each computes what the activation function of the same name computes."""

from __future__ import annotations

from typing import Any

from graphc.frontend import activations, constraints, initializers, regularizers
from graphc.frontend.layers.base import CallContext, Layer
from graphc.ir.graph import Node
from graphc.ir.types import Dim, format_shape
from graphc.ops import builders as b


def _number(layer: str, name: str, value: Any, minimum: float | None = 0.0) -> float:
    below = minimum is not None and isinstance(value, (int, float)) and value < minimum
    if isinstance(value, bool) or not isinstance(value, (int, float)) or below:
        bound = "" if minimum is None else f" >= {minimum:g}"
        raise ValueError(f"{layer}: `{name}` must be a number{bound}, got {value!r}")
    return float(value)


class ReLU(Layer):
    """max(x, 0) clipped to max_value; below threshold, negative_slope * (x - threshold)."""

    supports_masking = True

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _number("ReLU", "max_value", max_value)
        self.negative_slope = _number("ReLU", "negative_slope", negative_slope)
        self.threshold = _number("ReLU", "threshold", threshold, minimum=None)

    def call(self, x: Node, ctx: CallContext) -> Node:
        return activations.relu(x, self.negative_slope, self.max_value, self.threshold)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class ELU(Layer):
    """x where x > 0, alpha * (e^x - 1) elsewhere."""

    supports_masking = True

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = _number("ELU", "alpha", alpha, minimum=None)

    def call(self, x: Node, ctx: CallContext) -> Node:
        return activations.elu(x, self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class ThresholdedReLU(Layer):
    """Keras 2's x where x > theta, else 0."""

    supports_masking = True

    def __init__(self, theta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.theta = _number("ThresholdedReLU", "theta", theta)

    def call(self, x: Node, ctx: CallContext) -> Node:
        return x * b.greater(x, self.theta)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "theta": self.theta}


class Softmax(Layer):
    """softmax along `axis` (one axis)."""

    supports_masking = True

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"Softmax: `axis` must be one int, got {axis!r}")
        self.axis = axis

    def call(self, x: Node, ctx: CallContext) -> Node:
        if self.axis % x.type.rank == 0:
            raise ValueError(f"Softmax {self.name!r}: axis {self.axis} is the batch axis of inputs of shape "
                             f"{format_shape(x.shape)}")
        return activations.softmax(x, self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class PReLU(Layer):
    """x where x >= 0, alpha * x elsewhere, with alpha learned per input value (shared along
    `shared_axes`, numbered from 1 as Keras numbers them)."""

    supports_masking = True

    def __init__(self, alpha_initializer: Any = "Zeros", alpha_regularizer: Any = None,
                 alpha_constraint: Any = None, shared_axes: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes: tuple[int, ...] | None = None
        else:
            axes = (shared_axes,) if isinstance(shared_axes, int) else tuple(shared_axes)
            if any(isinstance(a, bool) or not isinstance(a, int) or a < 1 for a in axes):
                raise ValueError(f"PReLU: `shared_axes` are sample axes numbered from 1, got {shared_axes!r}")
            self.shared_axes = axes

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if axis > len(shape):
                raise ValueError(f"PReLU {self.name!r}: shared axis {axis} is not an axis of inputs of shape "
                                 f"{format_shape(input_shape)}")
            shape[axis - 1] = 1
        if None in shape:
            raise ValueError(f"PReLU {self.name!r}: inputs of shape {format_shape(input_shape)} need known "
                             "sizes on the axes alpha is not shared along")
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer, self.alpha_regularizer,
                                     constraint=self.alpha_constraint)

    def call(self, x: Node, ctx: CallContext) -> Node:
        alpha = self.weight_state(ctx, self.alpha)
        return b.select(b.greater_equal(x, 0.0), x, x * alpha)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": constraints.serialize(self.alpha_constraint),
                "shared_axes": None if self.shared_axes is None else list(self.shared_axes)}
