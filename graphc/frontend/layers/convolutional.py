"""Convolution layers: Conv1D and Conv2D (Keras 3 arguments, Keras 1/2 spellings accepted).

Both record the conv2d op on channels-last images: a 1-D convolution is a 2-D one over a
height of 1, and groups are one conv2d per group on its slice of channels and filters,
concatenated. Keras's padding modes become explicit pads (image_format.padding_of).
"""

from __future__ import annotations

import warnings
from typing import Any

from graphc.frontend import activations, constraints, initializers, regularizers
from graphc.frontend.layers.base import CallContext, Layer
from graphc.frontend.layers.image_format import (
    from_channels_last,
    padding_of,
    resolve,
    to_channels_last,
    tuple_of,
)
from graphc.frontend.layers.legacy import rename_legacy_kwargs
from graphc.ir.graph import Node
from graphc.ir.types import Dim, format_shape
from graphc.ops import builders as b
from graphc.ops.convolution import CONV2D

CONV_LEGACY = {
    "nb_filter": "filters",
    "border_mode": "padding",
    "subsample": "strides",
    "subsample_length": "strides",
    "filter_length": "kernel_size",
    "dim_ordering": "data_format",
    "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "bias": "use_bias",
    "atrous_rate": "dilation_rate",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
}
UNSUPPORTED_NONE = ("activity_regularizer",)
CONSTRAINTS = ("kernel_constraint", "bias_constraint")


class _Conv(Layer):
    """A convolution over RANK spatial axes."""

    folds_steps = True

    RANK = 2

    def __init__(
        self,
        filters: int | None = None,
        kernel_size: Any = None,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        layer = type(self).__name__
        given = {
            "filters": filters,
            "kernel_size": kernel_size,
            "strides": strides,
            "padding": padding,
            "data_format": data_format,
            "dilation_rate": dilation_rate,
            "use_bias": use_bias,
            "kernel_initializer": kernel_initializer,
            "kernel_regularizer": kernel_regularizer,
            "bias_regularizer": bias_regularizer,
        }
        legacy = {k: kwargs.pop(k) for k in list(kwargs) if k in CONV_LEGACY}
        if "nb_row" in kwargs or "nb_col" in kwargs:
            legacy["kernel_size"] = (kwargs.pop("nb_row"), kwargs.pop("nb_col"))
            warnings.warn(
                f"{layer}: `nb_row`/`nb_col` are Keras 1 arguments; use `kernel_size`",
                DeprecationWarning,
                stacklevel=3,
            )
        renamed = rename_legacy_kwargs(layer, legacy, CONV_LEGACY)
        for key, value in renamed.items():
            if key in UNSUPPORTED_NONE:
                kwargs[key] = value
            else:
                given[key] = value
        for key in UNSUPPORTED_NONE:
            if kwargs.pop(key, None) is not None:
                raise ValueError(f"{layer}: `{key}` is not supported by graphc yet")
        for key in CONSTRAINTS:
            given[key] = given.get(key, kwargs.pop(key, None))
        filters = given["filters"]
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{layer}: `filters` must be a positive integer, got {filters!r}")
        if given["kernel_size"] is None:
            raise ValueError(f"{layer}: `kernel_size` is required")
        super().__init__(**kwargs)
        rank = self.RANK
        self.filters = filters
        self.kernel_size = tuple_of(given["kernel_size"], rank, "kernel_size", layer)
        self.strides = tuple_of(given["strides"], rank, "strides", layer)
        self.dilation_rate = tuple_of(given["dilation_rate"], rank, "dilation_rate", layer)
        self.padding = str(given["padding"]).lower()
        allowed = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
        if self.padding not in allowed:
            raise ValueError(f"{layer}: `padding` must be one of {allowed}, got {given['padding']!r}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{layer}: strides > 1 cannot be combined with dilation_rate > 1 (as in Keras)")
        self.data_format = resolve(given["data_format"], layer)
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or filters % groups:
            raise ValueError(
                f"{layer}: The number of filters must be evenly divisible by the number of "
                f"groups. Received: groups={groups}, filters={filters}"
            )
        self.groups = groups
        self.activation = activations.get(activation)
        self.use_bias = bool(given["use_bias"])
        self.kernel_initializer = initializers.get(given["kernel_initializer"])
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(given["kernel_regularizer"])
        self.bias_regularizer = regularizers.get(given["bias_regularizer"])
        self.kernel_constraint = constraints.get(given["kernel_constraint"])
        self.bias_constraint = constraints.get(given["bias_constraint"])

    def _channels(self, input_shape: tuple[Dim, ...]) -> int:
        if len(input_shape) != self.RANK + 2 or None in input_shape[1:]:
            layout = "spatial..., channels" if self.data_format == "channels_last" else "channels, spatial..."
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} takes inputs of rank {self.RANK + 2} "
                f"(batch, {layout}), got {format_shape(input_shape)}"
            )
        return input_shape[-1] if self.data_format == "channels_last" else input_shape[1]  # type: ignore[return-value]

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        channels = self._channels(input_shape)
        if channels % self.groups:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: the number of input channels ({channels}) "
                f"must be evenly divisible by the number of groups ({self.groups})"
            )
        self.kernel = self.add_weight(
            "kernel",
            self.kernel_shape(channels),
            self.kernel_initializer,
            self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = (
            self.add_weight(
                "bias",
                (self.filters,),
                self.bias_initializer,
                self.bias_regularizer,
                constraint=self.bias_constraint,
            )
            if self.use_bias
            else None
        )

    def kernel_shape(self, channels: int) -> tuple[int, ...]:
        """(*kernel_size, in/groups, filters), Keras's layout whatever the data_format."""
        return (*self.kernel_size, channels // self.groups, self.filters)

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
        expected = self.kernel.shape[-2] * self.groups
        if self._channels(input_shape) != expected:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                f"{expected} channels, but received input with shape {format_shape(input_shape)}"
            )

    def call(self, x: Node, ctx: CallContext) -> Node:
        x = to_channels_last(x, self.data_format)
        kernel = self.weight_state(ctx, self.kernel)
        sizes, strides, dilation = self.kernel_size, self.strides, self.dilation_rate
        lengths = x.shape[1:-1]
        if self.RANK == 1:
            x = b.reshape(x, (x.shape[0], 1, *x.shape[1:]))
            kernel = b.reshape(kernel, (1, *kernel.shape))
            sizes, strides, dilation = (1, *sizes), (1, *strides), (1, *dilation)
            lengths = (1, *lengths)
        pads = padding_of(self.padding, lengths, sizes, strides, dilation, type(self).__name__)
        geometry = {"strides": strides, "dilation": dilation, "padding": pads}
        y = grouped_conv(x, kernel, self.groups, geometry)
        if self.RANK == 1:
            y = b.reshape(y, (y.shape[0], *y.shape[2:]))
        if self.bias is not None:
            y = y + self.weight_state(ctx, self.bias)
        return from_channels_last(self.activation(y), self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": None,
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


def grouped_conv(x: Node, kernel: Node, groups: int, geometry: dict[str, Any]) -> Node:
    """conv2d per group: group g reads channels [g*C/G, (g+1)*C/G) and writes its F/G filters."""
    if groups == 1:
        return CONV2D(x, kernel, **geometry)
    kh, kw, per_group, filters = kernel.shape
    per_filter = filters // groups
    outputs = []
    for g in range(groups):
        part = b.slice_(x, (0, 0, 0, g * per_group), (None, *x.shape[1:3], per_group))
        weights = b.slice_(kernel, (0, 0, 0, g * per_filter), (kh, kw, per_group, per_filter))
        outputs.append(CONV2D(part, weights, **geometry))
    return b.concatenate(outputs, -1)


class Conv2D(_Conv):
    """2-D convolution (cross-correlation) with a (kh, kw, in/groups, filters) kernel."""

    RANK = 2


class Conv1D(_Conv):
    """1-D convolution over (batch, steps, channels); padding may also be 'causal'."""

    RANK = 1


class Convolution2D(Conv2D):
    """Keras 1/2's name. As Keras 2.0-2.2 did, three leading ints `Convolution2D(32, 3, 3)` mean
    32 filters of 3x3 (Keras 3's Conv2D would read the third as the strides)."""

    def __init__(
        self, filters: int | None = None, kernel_size: Any = None, *args: Any, **kwargs: Any
    ) -> None:
        if args and isinstance(kernel_size, int) and isinstance(args[0], int):
            warnings.warn(
                "Convolution2D(filters, rows, cols): the Keras 1 form; use Conv2D(filters, (rows, cols))",
                DeprecationWarning,
                stacklevel=2,
            )
            kernel_size, args = (kernel_size, args[0]), args[1:]
        if args:
            raise TypeError(f"Convolution2D: unexpected positional arguments {args}")
        super().__init__(filters, kernel_size, **kwargs)


class Convolution1D(Conv1D):
    """Keras 1/2's name for Conv1D."""
