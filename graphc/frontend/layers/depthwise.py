"""DepthwiseConv2D, SeparableConv2D and Conv2DTranspose.

A depthwise convolution with unit strides is a sum of KH*KW shifted windows of the (padded)
input, each scaled by its kernel row: slices, pads and products are pointwise ops, so the whole
layer fuses into one loop nest and its gradient comes from theirs. With strides it runs as a
grouped conv2d (one group per input channel). A transposed convolution is the input gradient of
the convolution it transposes (conv2d_input_grad), with Keras's output sizes.
"""

from __future__ import annotations

from typing import Any

from graphc.frontend import activations, initializers, regularizers
from graphc.frontend.layers.base import CallContext, Layer
from graphc.frontend.layers.convolutional import Conv2D, grouped_conv
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
from graphc.ops.convolution import CONV2D, CONV2D_INPUT_GRAD, Window

UNSUPPORTED = (
    "depthwise_constraint",
    "pointwise_constraint",
    "bias_constraint",
    "activity_regularizer",
    "kernel_constraint",
)


def depthwise(
    x: Node,
    kernel: Node,
    strides: tuple[int, int],
    dilation: tuple[int, int],
    pads: tuple[tuple[int, int], ...],
) -> Node:
    """Channel c with multiplier m -> output channel c*dm + m (Keras's order); x is channels-last."""
    kh, kw, channels, multiplier = kernel.shape
    width = channels * multiplier
    flat = b.reshape(kernel, (kh, kw, width))
    if strides != (1, 1):
        geometry = {"strides": strides, "dilation": dilation, "padding": pads}
        return grouped_conv(x, b.reshape(flat, (kh, kw, 1, width)), channels, geometry)
    _, h, w, _ = x.shape
    if multiplier > 1:
        spread = b.broadcast_to(b.reshape(x, (None, h, w, channels, 1)), (None, h, w, channels, multiplier))
        x = b.reshape(spread, (None, h, w, width))
    if any(p for pair in pads for p in pair):
        x = b.pad(x, ((0, 0), *pads, (0, 0)))
    oh, ow = Window((kh, kw), strides, dilation, pads).output(h, w)
    total = None
    for a in range(kh):
        for q in range(kw):
            window = b.slice_(x, (0, a * dilation[0], q * dilation[1], 0), (None, oh, ow, width))
            term = window * b.reshape(b.slice_(flat, (a, q, 0), (1, 1, width)), (width,))
            total = term if total is None else total + term
    assert total is not None
    return total


class _Windowed(Layer):
    """Shared arguments of the depthwise and separable layers."""

    def __init__(
        self,
        kernel_size: Any,
        strides: Any,
        padding: str,
        data_format: str | None,
        dilation_rate: Any,
        depth_multiplier: int,
        activation: Any,
        use_bias: bool,
        kwargs: dict[str, Any],
    ) -> None:
        layer = type(self).__name__
        for key in UNSUPPORTED:
            if kwargs.pop(key, None) is not None:
                raise ValueError(f"{layer}: `{key}` is not supported by graphc yet")
        if kwargs.pop("groups", 1) != 1:
            raise ValueError(f"{layer}: `groups` must be 1")
        for key in ("kernel_initializer", "kernel_regularizer"):  # tf_keras lists them, unused
            kwargs.pop(key, None)
        super().__init__(**kwargs)
        self.kernel_size = tuple_of(kernel_size, 2, "kernel_size", layer)
        self.strides = tuple_of(strides, 2, "strides", layer)
        self.dilation_rate = tuple_of(dilation_rate, 2, "dilation_rate", layer)
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{layer}: `padding` must be 'valid' or 'same', got {padding!r}")
        self.data_format = resolve(data_format, layer)
        if (
            isinstance(depth_multiplier, bool)
            or not isinstance(depth_multiplier, int)
            or depth_multiplier < 1
        ):
            raise ValueError(f"{layer}: `depth_multiplier` must be a positive int, got {depth_multiplier!r}")
        self.depth_multiplier = depth_multiplier
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)

    def channels(self, input_shape: tuple[Dim, ...]) -> int:
        if len(input_shape) != 4 or None in input_shape[1:]:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} takes images of rank 4, got "
                f"{format_shape(input_shape)}"
            )
        return input_shape[-1] if self.data_format == "channels_last" else input_shape[1]  # type: ignore[return-value]

    def depthwise(self, x: Node, kernel: Node) -> Node:
        pads = padding_of(
            self.padding,
            x.shape[1:3],
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            type(self).__name__,
        )
        return depthwise(x, kernel, self.strides, self.dilation_rate, pads)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "depth_multiplier": self.depth_multiplier,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
        }


class DepthwiseConv2D(_Windowed):
    """One (kh, kw) filter per input channel and multiplier: (kh, kw, in, depth_multiplier) kernel."""

    def __init__(
        self,
        kernel_size: Any = None,
        strides: Any = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            depth_multiplier,
            activation,
            use_bias,
            kwargs,
        )
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        channels = self.channels(input_shape)
        self.kernel = self.add_weight(
            "kernel",
            (*self.kernel_size, channels, self.depth_multiplier),
            self.depthwise_initializer,
            self.depthwise_regularizer,
        )
        self.bias = (
            self.add_weight(
                "bias", (channels * self.depth_multiplier,), self.bias_initializer, self.bias_regularizer
            )
            if self.use_bias
            else None
        )

    def call(self, x: Node, ctx: CallContext) -> Node:
        y = self.depthwise(to_channels_last(x, self.data_format), self.weight_state(ctx, self.kernel))
        if self.bias is not None:
            y = y + self.weight_state(ctx, self.bias)
        return from_channels_last(self.activation(y), self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }


class SeparableConv2D(_Windowed):
    """Depthwise (no bias), then a 1x1 convolution to `filters`, then the bias and activation."""

    def __init__(
        self,
        filters: int | None = None,
        kernel_size: Any = None,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        if "init" in kwargs:  # Keras 1/2: one initializer for both kernels
            init = rename_legacy_kwargs(
                "SeparableConv2D", {"init": kwargs.pop("init")}, {"init": "depthwise"}
            )
            depthwise_initializer = pointwise_initializer = init["depthwise"]
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"SeparableConv2D: `filters` must be a positive integer, got {filters!r}")
        super().__init__(
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            depth_multiplier,
            activation,
            use_bias,
            kwargs,
        )
        self.filters = filters
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        channels = self.channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel",
            (*self.kernel_size, channels, self.depth_multiplier),
            self.depthwise_initializer,
            self.depthwise_regularizer,
        )
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel",
            (1, 1, channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer,
            self.pointwise_regularizer,
        )
        self.bias = (
            self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer)
            if self.use_bias
            else None
        )

    def call(self, x: Node, ctx: CallContext) -> Node:
        spread = self.depthwise(
            to_channels_last(x, self.data_format), self.weight_state(ctx, self.depthwise_kernel)
        )
        unit = {"strides": (1, 1), "dilation": (1, 1), "padding": ((0, 0), (0, 0))}
        y = CONV2D(spread, self.weight_state(ctx, self.pointwise_kernel), **unit)
        if self.bias is not None:
            y = y + self.weight_state(ctx, self.bias)
        return from_channels_last(self.activation(y), self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }


class Conv2DTranspose(Conv2D):
    """The transpose of a Conv2D: kernel (kh, kw, filters, in); output size n*s ('same') or
    n*s + max(k - s, 0) ('valid'), plus output_padding when given."""

    def __init__(
        self,
        filters: int | None = None,
        kernel_size: Any = None,
        strides: Any = 1,
        padding: str = "valid",
        output_padding: Any = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("groups", 1) != 1:
            raise ValueError("Conv2DTranspose: `groups` must be 1")
        super().__init__(filters, kernel_size, strides, padding, **kwargs)
        if max(self.dilation_rate) > 1:
            raise ValueError("Conv2DTranspose: dilation_rate > 1 is not supported by graphc yet")
        self.output_padding = (
            None
            if output_padding is None
            else tuple_of(output_padding, 2, "output_padding", "Conv2DTranspose", minimum=0)
        )
        if self.output_padding is not None and any(
            p >= s for p, s in zip(self.output_padding, self.strides, strict=True)
        ):
            raise ValueError(
                f"Conv2DTranspose: output_padding {self.output_padding} must be smaller than the "
                f"strides {self.strides}"
            )

    def kernel_shape(self, channels: int) -> tuple[int, ...]:
        """(*kernel_size, filters, in): out and in swapped compared with Conv2D, as in Keras."""
        return (*self.kernel_size, self.filters, channels)

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
        if self._channels(input_shape) != self.kernel.shape[-1]:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                f"{self.kernel.shape[-1]} channels, got input of shape {format_shape(input_shape)}"
            )

    def _axis(self, n: int, axis: int) -> tuple[int, tuple[int, int]]:
        """The output length along one axis and the padding of the convolution it transposes."""
        k, s = self.kernel_size[axis], self.strides[axis]
        extra = None if self.output_padding is None else self.output_padding[axis]
        if self.padding == "valid":
            length = n * s + max(k - s, 0) if extra is None else (n - 1) * s + k + extra
            return length, (0, max((n - 1) * s + k - length, 0))
        if extra is None:
            length, before = n * s, max(k - s, 0) // 2
        else:
            length, before = (n - 1) * s + k + extra - 2 * (k // 2), k // 2
        return length, (before, max((n - 1) * s + k - before - length, 0))

    def call(self, x: Node, ctx: CallContext) -> Node:
        x = to_channels_last(x, self.data_format)
        (h, ph), (w, pw) = self._axis(x.shape[1], 0), self._axis(x.shape[2], 1)
        y = CONV2D_INPUT_GRAD(
            x,
            self.weight_state(ctx, self.kernel),
            input_size=(h, w),
            strides=self.strides,
            dilation=(1, 1),
            padding=(ph, pw),
        )
        if self.bias is not None:
            y = y + self.weight_state(ctx, self.bias)
        return from_channels_last(self.activation(y), self.data_format)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("groups")
        return {
            **config,
            "output_padding": None if self.output_padding is None else list(self.output_padding),
        }
