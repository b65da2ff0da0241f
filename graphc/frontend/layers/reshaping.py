"""Layers that move values without arithmetic: Reshape, Permute, ZeroPadding2D, Cropping2D,
UpSampling2D (nearest), and SpatialDropout2D's whole-channel masks."""

from __future__ import annotations

from math import prod
from typing import Any

from graphc.frontend.layers.base import CallContext, Layer
from graphc.frontend.layers.core import Dropout
from graphc.frontend.layers.image_format import from_channels_last, resolve, to_channels_last, tuple_of
from graphc.ir.graph import Node
from graphc.ir.types import Dim, format_shape
from graphc.ops import builders as b


class Reshape(Layer):
    """The sample reshaped to `target_shape` (one entry may be -1); the batch axis stays."""

    def __init__(self, target_shape: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        shape = tuple(target_shape)
        if sum(d == -1 for d in shape) > 1 or any(
            not isinstance(d, int) or (d < 1 and d != -1) for d in shape
        ):
            raise ValueError(
                f"Reshape: target_shape must be positive ints with at most one -1, got {target_shape!r}"
            )
        self.target_shape = shape

    def call(self, x: Node, ctx: CallContext) -> Node:
        size = prod(d for d in x.shape[1:] if d is not None)
        known = prod(d for d in self.target_shape if d != -1)
        shape = tuple(size // known if d == -1 else d for d in self.target_shape)
        if prod(shape) != size:
            raise ValueError(
                f"Reshape {self.name!r}: cannot reshape a sample of shape {format_shape(x.shape[1:])} "
                f"({size} values) into {self.target_shape}"
            )
        return b.reshape(x, (None, *shape))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Layer):
    """The sample's axes reordered: `dims` numbers them from 1 (the batch axis stays first)."""

    def __init__(self, dims: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..{len(dims)}, got {dims!r}")
        self.dims = dims

    def call(self, x: Node, ctx: CallContext) -> Node:
        if len(self.dims) != x.type.rank - 1:
            raise ValueError(
                f"Permute {self.name!r}: dims {self.dims} do not match inputs of shape "
                f"{format_shape(x.shape)}"
            )
        return b.transpose(x, (0, *self.dims))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features): the vector repeated n times (the bridge from an
    encoder's last state to a decoder's steps)."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"RepeatVector: `n` must be a positive integer, got {n!r}")
        self.n = n

    def call(self, x: Node, ctx: CallContext) -> Node:
        if x.type.rank != 2:
            raise ValueError(f"RepeatVector {self.name!r} takes inputs of shape (batch, features), got "
                             f"{format_shape(x.shape)}")
        features = x.shape[1]
        return b.broadcast_to(b.reshape(x, (x.shape[0], 1, features)), (x.shape[0], self.n, features))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


def _pairs(value: Any, layer: str, name: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras's forms: n, (rows, cols), or ((top, bottom), (left, right))."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    pairs = []
    for item in tuple(value):
        pair = (item, item) if isinstance(item, int) else tuple(item)
        if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in pair):
            raise ValueError(
                f"{layer}: `{name}` must be an int, 2 ints or 2 pairs of ints >= 0, got {value!r}"
            )
        pairs.append(pair)
    if len(pairs) != 2:
        raise ValueError(f"{layer}: `{name}` must be an int, 2 ints or 2 pairs of ints >= 0, got {value!r}")
    return pairs[0], pairs[1]  # type: ignore[return-value]


class _Spatial(Layer):
    """A 2-D image layer: checks the rank and works on the channels-last view."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = resolve(data_format, type(self).__name__)

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        if len(input_shape) != 4:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} takes images (batch, rows, cols, "
                f"channels), got {format_shape(input_shape)}"
            )

    def call(self, x: Node, ctx: CallContext) -> Node:
        return from_channels_last(self.apply(to_channels_last(x, self.data_format)), self.data_format)

    def apply(self, x: Node) -> Node:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class ZeroPadding2D(_Spatial):
    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self.padding = _pairs(padding, "ZeroPadding2D", "padding")

    def apply(self, x: Node) -> Node:
        return b.pad(x, ((0, 0), *self.padding, (0, 0)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


class Cropping2D(_Spatial):
    def __init__(
        self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(data_format, **kwargs)
        self.cropping = _pairs(cropping, "Cropping2D", "cropping")

    def apply(self, x: Node) -> Node:
        (top, bottom), (left, right) = self.cropping
        height, width = x.shape[1] - top - bottom, x.shape[2] - left - right
        if height < 1 or width < 1:
            raise ValueError(
                f"Cropping2D {self.name!r}: cropping {self.cropping} leaves nothing of "
                f"{x.shape[1]}x{x.shape[2]} images"
            )
        return b.slice_(x, (0, top, left, 0), (None, height, width, x.shape[3]))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping]}


class UpSampling2D(_Spatial):
    """Each pixel repeated size[0] x size[1] times (nearest neighbour)."""

    def __init__(
        self,
        size: Any = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ) -> None:
        super().__init__(data_format, **kwargs)
        if interpolation != "nearest":
            raise ValueError(
                f"UpSampling2D: only interpolation='nearest' is supported, got {interpolation!r}"
            )
        self.size = tuple_of(size, 2, "size", "UpSampling2D")

    def apply(self, x: Node) -> Node:
        _, h, w, c = x.shape
        rows, cols = self.size
        spread = b.broadcast_to(b.reshape(x, (None, h, 1, w, 1, c)), (None, h, rows, w, cols, c))
        return b.reshape(spread, (None, h * rows, w * cols, c))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": list(self.size), "interpolation": "nearest"}


class SpatialDropout2D(Dropout):
    """Dropout of whole feature maps: one draw per sample and channel."""

    def __init__(self, rate: float, data_format: str | None = None, **kwargs: Any) -> None:
        self.data_format = resolve(data_format, "SpatialDropout2D")
        mask = (None, 1, 1, None) if self.data_format == "channels_last" else (None, None, 1, 1)
        super().__init__(rate, noise_shape=mask, **kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("noise_shape")
        return {**config, "data_format": self.data_format}
