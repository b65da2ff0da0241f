"""Preprocessing layers inside the model (Keras 3 `layers/preprocessing/`): Rescaling, and
Normalization with `adapt`, so the scaling tutorials put in the model is compiled with it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from graphc.frontend.layers.base import CallContext, Layer
from graphc.ir.graph import Node
from graphc.ir.types import Dim, format_shape
from graphc.ops import builders as b

EPSILON = 1e-7  # Keras's backend.epsilon(): the smallest standard deviation Normalization divides by


class Rescaling(Layer):
    """inputs * scale + offset (e.g. Rescaling(1 / 255) for 8-bit images)."""

    supports_masking = True

    def __init__(self, scale: float, offset: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, value in (("scale", scale), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"Rescaling: `{name}` must be a number, got {value!r}")
        self.scale, self.offset = float(scale), float(offset)

    def call(self, x: Node, ctx: CallContext) -> Node:
        return x * self.scale + self.offset if self.offset else x * self.scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Normalization(Layer):
    """(inputs - mean) / max(sqrt(variance), epsilon) per feature of the kept `axis` (the last by
    default); `adapt(data)` sets mean and variance from data, or they are given. `invert=True`
    undoes it. Mean, variance and the sample count are non-trainable weights, as in Keras 3."""

    def __init__(self, axis: Any = -1, mean: Any = None, variance: Any = None, invert: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization {self.name!r}: give both `mean` and `variance`, or neither")
        axes = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        if any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
            raise ValueError(f"Normalization: `axis` must be an int, a tuple of ints or None, got {axis!r}")
        self.axis = axis
        self._axes = axes
        self.invert = bool(invert)
        self.input_mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.input_variance = None if variance is None else np.asarray(variance, dtype=np.float32)

    def _kept(self, rank: int) -> list[int]:
        kept = sorted({a + rank if a < 0 else a for a in self._axes})
        if any(not 1 <= a < rank for a in kept):
            raise ValueError(f"Normalization {self.name!r}: axis {self.axis} is not a sample axis of a "
                             f"rank-{rank} input")
        return kept

    def _stats_shape(self, input_shape: tuple[Dim, ...]) -> tuple[int, ...]:
        kept = self._kept(len(input_shape))
        if any(input_shape[a] is None for a in kept):
            raise ValueError(f"Normalization {self.name!r}: the kept axes of {format_shape(input_shape)} "
                             "must have known sizes")
        return tuple(int(input_shape[a]) for a in kept)  # type: ignore[arg-type]

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        shape = self._stats_shape(input_shape)
        if self.input_mean is not None:
            return
        self.adapt_mean = self.add_weight("mean", shape, "zeros", trainable=False)
        self.adapt_variance = self.add_weight("variance", shape, "ones", trainable=False)
        self.count = self.add_weight("count", (), "zeros", trainable=False)

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Mean and (biased) variance of the data over every axis but the kept ones: an array, or
        batches (a generator or Dataset of arrays, or of (x, y) pairs)."""
        del batch_size
        array = _as_array(data, steps)
        if array.ndim < 2 or array.shape[0] == 0:
            raise ValueError(f"Normalization {self.name!r}: adapt needs a non-empty batch of samples, got "
                             f"shape {array.shape}")
        if self.input_mean is not None:
            raise ValueError(f"Normalization {self.name!r}: it was given mean and variance; adapt does not "
                             "apply")
        self.ensure_built((None, *array.shape[1:]))
        kept = self._kept(array.ndim)
        reduced = tuple(a for a in range(array.ndim) if a not in kept)
        values = array.astype(np.float64)
        self.adapt_mean.assign(values.mean(axis=reduced).reshape(self.adapt_mean.shape))
        self.adapt_variance.assign(values.var(axis=reduced).reshape(self.adapt_variance.shape))
        self.count.assign(np.full(self.count.shape, len(array), dtype=np.float32))

    def call(self, x: Node, ctx: CallContext) -> Node:
        rank = x.type.rank
        kept = self._kept(rank)
        shape = tuple(x.shape[a] if a in kept else 1 for a in range(1, rank))
        if self.input_mean is not None:
            stats = self._stats_shape(x.shape)
            mean = x.graph.constant(np.broadcast_to(self.input_mean, stats).reshape(shape))
            variance = x.graph.constant(np.broadcast_to(self.input_variance, stats).reshape(shape))
        else:
            mean = b.reshape(self.weight_state(ctx, self.adapt_mean), shape)
            variance = b.reshape(self.weight_state(ctx, self.adapt_variance), shape)
        deviation = b.maximum(b.sqrt(variance), EPSILON)
        return mean + x * deviation if self.invert else (x - mean) / deviation

    def get_config(self) -> dict[str, Any]:
        def listed(value: np.ndarray | None) -> Any:
            return None if value is None else value.tolist()

        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": listed(self.input_mean), "variance": listed(self.input_variance)}


def _as_array(data: Any, steps: int | None) -> np.ndarray:
    if isinstance(data, np.ndarray) or (isinstance(data, (list, tuple)) and not _is_batches(data)):
        return np.asarray(data, dtype=np.float32)
    parts = []
    for index, batch in enumerate(data if isinstance(data, Iterable) else []):
        if steps is not None and index >= steps:
            break
        parts.append(np.asarray(batch[0] if isinstance(batch, tuple) else batch, dtype=np.float32))
    if not parts:
        raise ValueError("Normalization.adapt: the data gave no batches")
    return np.concatenate(parts)


def _is_batches(data: Any) -> bool:
    return bool(data) and isinstance(data[0], tuple)
