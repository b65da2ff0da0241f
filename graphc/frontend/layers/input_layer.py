"""InputLayer and Input(): where a functional model's symbolic tensors start."""

from __future__ import annotations

from typing import Any

from graphc.frontend.layers.base import CallContext, KerasTensor, Layer
from graphc.ir.graph import Node
from graphc.ir.types import Dim

INPUT_DTYPES = (None, "float32", "int32", "int64")


class InputLayer(Layer):
    """Declares the per-sample shape of a model input. Integer inputs (ids for an Embedding) travel
    as float32, exact up to 2**24; the dtype is kept for the config."""

    def __init__(
        self,
        shape: tuple[int, ...] | None = None,
        batch_size: int | None = None,
        dtype: str | None = None,
        batch_shape: tuple[Dim, ...] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if batch_shape is None and kwargs.get("batch_input_shape") is not None:
            batch_shape = tuple(kwargs.pop("batch_input_shape"))
        if shape is None and kwargs.get("input_shape") is not None:
            shape = tuple(kwargs.pop("input_shape"))
        for key in ("sparse", "ragged", "optional"):
            if kwargs.pop(key, False):
                raise ValueError(f"InputLayer: `{key}=True` is not supported")
        if dtype not in INPUT_DTYPES:
            raise ValueError(f"InputLayer: dtype must be one of {INPUT_DTYPES[1:]}, got {dtype!r}")
        super().__init__(name=name, **kwargs)
        self.input_dtype = dtype or "float32"
        if batch_shape is not None:
            shape = tuple(batch_shape)[1:]
            batch_size = tuple(batch_shape)[0] if batch_shape else None
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size <= 0):
            raise ValueError(f"InputLayer: the batch size must be a positive integer, got {batch_size!r}")
        # A declared batch size matters only to stateful recurrent layers; shapes keep a free batch axis.
        self.fixed_batch_size: int | None = batch_size
        if shape is None:
            raise ValueError("InputLayer needs `shape` (the shape of one sample, without the batch)")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if any(not isinstance(d, int) or d <= 0 for d in shape):
            raise ValueError(f"InputLayer {self.name!r}: shape must be positive integers, got {shape}")
        self.batch_shape: tuple[Dim, ...] = (None,) + shape
        self.built = True
        self.output = KerasTensor(self.batch_shape, self, [])
        self.output_shape = self.batch_shape

    def call(self, x: Node, ctx: CallContext) -> Node:
        return x

    def get_config(self) -> dict[str, Any]:
        return {
            "batch_shape": [self.fixed_batch_size, *self.batch_shape[1:]],
            "dtype": self.input_dtype,
            "sparse": False,
            "ragged": False,
            "name": self.name,
            "optional": False,
        }


def Input(
    shape: tuple[int, ...] | None = None,
    batch_size: int | None = None,
    dtype: str | None = None,  # noqa: N802
    batch_shape: tuple[Dim, ...] | None = None,
    name: str | None = None,
) -> KerasTensor:
    """keras.Input: a symbolic tensor for one model input."""
    return InputLayer(
        shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name
    ).output
