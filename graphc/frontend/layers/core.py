"""Core layers: Dense, Activation, Dropout, Flatten, LeakyReLU."""

from __future__ import annotations

from math import prod
from typing import Any

from graphc.frontend import activations, constraints, initializers, regularizers
from graphc.frontend.layers.base import CallContext, Layer
from graphc.frontend.layers.image_format import resolve, to_channels_last
from graphc.frontend.layers.legacy import rename_legacy_kwargs
from graphc.ir.graph import Node
from graphc.ir.types import Dim, format_shape
from graphc.ops import builders as b

_DENSE_LEGACY = {
    "output_dim": "units",
    "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "bias": "use_bias",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
}


class Dense(Layer):
    """y = activation(x @ kernel + bias), along the last axis of inputs of rank 2 to 4."""

    supports_masking = True

    def __init__(self, units: int | None = None, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        given = {"units": units, "kernel_initializer": kernel_initializer,
                 "kernel_regularizer": kernel_regularizer, "bias_regularizer": bias_regularizer,
                 "use_bias": use_bias, "kernel_constraint": kernel_constraint,
                 "bias_constraint": bias_constraint}
        legacy = rename_legacy_kwargs("Dense", {k: kwargs.pop(k) for k in list(kwargs) if k in _DENSE_LEGACY},
                                      _DENSE_LEGACY)
        given.update(legacy)
        units = given["units"]
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"Dense: `units` must be a positive integer, got {units!r}")
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(given["use_bias"])
        self.kernel_initializer = initializers.get(given["kernel_initializer"])
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(given["kernel_regularizer"])
        self.bias_regularizer = regularizers.get(given["bias_regularizer"])
        self.kernel_constraint = constraints.get(given["kernel_constraint"])
        self.bias_constraint = constraints.get(given["bias_constraint"])

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        if not 2 <= len(input_shape) <= 4 or None in input_shape[1:]:
            raise ValueError(
                f"Dense layer {self.name!r} takes inputs of shape (batch, features) (or (batch, steps, "
                f"features), (batch, rows, cols, features)), got {format_shape(input_shape)}; add a "
                "Flatten layer before it"
            )
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer,
                                      self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = (self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer,
                                     constraint=self.bias_constraint) if self.use_bias else None)

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
        expected = self.kernel.shape[0]
        if not 2 <= len(input_shape) <= 4 or input_shape[-1] != expected:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis -1 of '
                f"input shape to have value {expected}, but received input with shape "
                f"{format_shape(input_shape)}"
            )

    def call(self, x: Node, ctx: CallContext) -> Node:
        y = b.last_axis_matmul(x, self.weight_state(ctx, self.kernel))
        if self.bias is not None:
            y = y + self.weight_state(ctx, self.bias)
        return self.activation(y)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": _serialize_regularizer(self.kernel_regularizer),
                "bias_regularizer": _serialize_regularizer(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


class Activation(Layer):
    """Applies an activation function by name or callable."""

    supports_masking = True

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, x: Node, ctx: CallContext) -> Node:
        return self.activation(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Inverted dropout in training; the identity in predict and evaluate."""

    supports_masking = True

    def __init__(self, rate: float | None = None, noise_shape: tuple[Dim, ...] | None = None,
                 seed: int | None = None, **kwargs: Any) -> None:
        if "p" in kwargs:
            kwargs = rename_legacy_kwargs("Dropout", kwargs, {"p": "rate"})
            rate = kwargs.pop("rate")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(f"Dropout: `rate` must be a number in [0, 1], got {rate!r}")
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed

    def call(self, x: Node, ctx: CallContext) -> Node:
        if not ctx.training or self.rate == 0:
            return x
        if self.rate == 1:
            return x * 0.0
        shape = x.shape if self.noise_shape is None else self._mask_shape(x.shape)
        stream = self.seed if self.seed is not None else ctx.next_stream()
        keep = b.greater_equal(b.random_uniform(ctx.random_seed(), shape, stream), self.rate)
        return x * (keep * (1.0 / (1.0 - self.rate)))

    def _mask_shape(self, shape: tuple[Dim, ...]) -> tuple[Dim, ...]:
        assert self.noise_shape is not None
        if len(self.noise_shape) != len(shape):
            raise ValueError(f"Dropout {self.name!r}: noise_shape {self.noise_shape} does not match "
                             f"input rank {len(shape)}")
        return tuple(s if n is None else n for n, s in zip(self.noise_shape, shape, strict=True))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
                "seed": self.seed}


class Flatten(Layer):
    """Row-major flattening of everything but the batch axis. With data_format="channels_first"
    (the process default when set so) the channels axis moves last first, as Keras does, so the
    flattened order, and the next Dense kernel, is the channels-last one."""

    folds_steps = True

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = resolve(data_format, "Flatten")

    def call(self, x: Node, ctx: CallContext) -> Node:
        if x.type.rank > 2:
            x = to_channels_last(x, self.data_format)
        return b.reshape(x, (x.shape[0], prod(d for d in x.shape[1:] if d is not None)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class LeakyReLU(Layer):
    """x where x >= 0, negative_slope * x elsewhere (Keras 2 called the slope `alpha`)."""

    supports_masking = True

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            negative_slope = rename_legacy_kwargs("LeakyReLU", {"alpha": kwargs.pop("alpha")},
                                                  {"alpha": "negative_slope"})["negative_slope"]
        if not isinstance(negative_slope, (int, float)) or negative_slope < 0:
            raise ValueError(f"LeakyReLU: `negative_slope` must be a number >= 0, got {negative_slope!r}")
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope)

    def call(self, x: Node, ctx: CallContext) -> Node:
        return b.select(b.greater_equal(x, 0.0), x, x * self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


def _serialize_regularizer(reg: Any) -> dict[str, Any] | None:
    return None if reg is None else {"class_name": type(reg).__name__, "config": reg.get_config()}


class Masking(Layer):
    """Steps whose features all equal `mask_value` are masked for the layers after (recurrent
    layers skip them) and zeroed, as Keras's Masking does."""

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def _kept(self, x: Node) -> Node:
        return b.reduce_max(1.0 - b.equal(x, self.mask_value), [x.type.rank - 1])

    def call(self, x: Node, ctx: CallContext) -> Node:
        return x * b.reshape(self._kept(x), (*x.shape[:-1], 1))

    def compute_mask(self, x: Any, mask: Node | None) -> Node | None:
        return self._kept(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}
