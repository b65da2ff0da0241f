"""Pooling layers: Max/AveragePooling 1D and 2D and the global poolings (Keras 3 arguments;
Keras 1/2's pool_length, stride, border_mode and dim_ordering accepted)."""

from __future__ import annotations

from typing import Any

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
from graphc.ops.convolution import POOL2D

POOL_LEGACY = {
    "pool_length": "pool_size",
    "stride": "strides",
    "border_mode": "padding",
    "dim_ordering": "data_format",
}


class _Pooling(Layer):
    """A max or average window over RANK spatial axes; strides default to the pool size."""

    folds_steps = True

    RANK = 2
    MODE = "max"

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        layer = type(self).__name__
        legacy = rename_legacy_kwargs(
            layer, {k: kwargs.pop(k) for k in list(kwargs) if k in POOL_LEGACY}, POOL_LEGACY
        )
        given = {"pool_size": pool_size, "strides": strides, "padding": padding, "data_format": data_format}
        given.update(legacy)
        super().__init__(**kwargs)
        self.pool_size = tuple_of(given["pool_size"], self.RANK, "pool_size", layer)
        strides = given["strides"]
        self.strides = self.pool_size if strides is None else tuple_of(strides, self.RANK, "strides", layer)
        self.padding = str(given["padding"]).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{layer}: `padding` must be 'valid' or 'same', got {given['padding']!r}")
        self.data_format = resolve(given["data_format"], layer)

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        if len(input_shape) != self.RANK + 2:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} takes inputs of rank {self.RANK + 2}, "
                f"got {format_shape(input_shape)}"
            )

    def call(self, x: Node, ctx: CallContext) -> Node:
        x = to_channels_last(x, self.data_format)
        size, strides = self.pool_size, self.strides
        if self.RANK == 1:
            x = b.reshape(x, (x.shape[0], 1, *x.shape[1:]))
            size, strides = (1, *size), (1, *strides)
        pads = padding_of(self.padding, x.shape[1:3], size, strides, (1, 1), type(self).__name__)
        y = POOL2D(x, mode=self.MODE, pool_size=size, strides=strides, padding=pads)
        if self.RANK == 1:
            y = b.reshape(y, (y.shape[0], *y.shape[2:]))
        return from_channels_last(y, self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPooling2D(_Pooling):
    RANK, MODE = 2, "max"


class AveragePooling2D(_Pooling):
    RANK, MODE = 2, "avg"


class MaxPooling1D(_Pooling):
    RANK, MODE = 1, "max"


class AveragePooling1D(_Pooling):
    RANK, MODE = 1, "avg"


class _GlobalPooling(Layer):
    """The max or mean over every spatial axis: (N, C), or (N, 1.., C) with keepdims."""

    folds_steps = True

    RANK = 2
    MODE = "max"

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        if "dim_ordering" in kwargs:
            data_format = rename_legacy_kwargs(
                type(self).__name__,
                {"dim_ordering": kwargs.pop("dim_ordering")},
                {"dim_ordering": "data_format"},
            )["data_format"]
        super().__init__(**kwargs)
        self.data_format = resolve(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        if len(input_shape) != self.RANK + 2:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} takes inputs of rank {self.RANK + 2}, "
                f"got {format_shape(input_shape)}"
            )

    def call(self, x: Node, ctx: CallContext) -> Node:
        first = 1 if self.data_format == "channels_last" else 2
        axes = list(range(first, first + self.RANK))
        reduce = b.reduce_max if self.MODE == "max" else b.reduce_mean
        return reduce(x, axes, keepdims=self.keepdims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling2D(_GlobalPooling):
    RANK, MODE = 2, "max"


class GlobalAveragePooling2D(_GlobalPooling):
    RANK, MODE = 2, "avg"


class GlobalMaxPooling1D(_GlobalPooling):
    RANK, MODE = 1, "max"


class GlobalAveragePooling1D(_GlobalPooling):
    """With a mask (Embedding(mask_zero=True) before it), the mean over the unmasked steps only."""

    RANK, MODE = 1, "avg"

    def call(self, x: Node, ctx: CallContext) -> Node:
        if ctx.mask is None:
            return super().call(x, ctx)
        steps = 1 if self.data_format == "channels_last" else 2
        weights = b.reshape(ctx.mask, (None, x.shape[1], 1) if steps == 1 else (None, 1, x.shape[2]))
        total = b.reduce_sum(x * weights, [steps], keepdims=self.keepdims)
        return total / b.reduce_sum(weights, [steps], keepdims=self.keepdims)


ALIASES = {
    "MaxPool2D": MaxPooling2D,
    "AvgPool2D": AveragePooling2D,
    "MaxPool1D": MaxPooling1D,
    "AvgPool1D": AveragePooling1D,
    "GlobalMaxPool2D": GlobalMaxPooling2D,
    "GlobalAvgPool2D": GlobalAveragePooling2D,
    "GlobalMaxPool1D": GlobalMaxPooling1D,
    "GlobalAvgPool1D": GlobalAveragePooling1D,
}
