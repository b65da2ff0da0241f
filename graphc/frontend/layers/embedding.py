"""Embedding: rows of an (input_dim, output_dim) table looked up by integer ids.

Ids travel as float32 model inputs (exact up to 2**24) and are cast to int32 in the graph; the
lookup is the gather op and its gradient a serial scatter-add, so repeated ids accumulate without
races. Out-of-range ids are refused before any native code runs (`check_input_values`, called by
the trainer for every array fed to an Embedding), naming the id and its position; the native gather
itself never reads outside the table.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from graphc.frontend import constraints, initializers, regularizers
from graphc.frontend.layers.base import CallContext, Layer
from graphc.frontend.layers.legacy import rename_legacy_kwargs
from graphc.ir.graph import Node
from graphc.ir.types import Dim
from graphc.ops import builders as b

EMBEDDING_LEGACY = {
    "init": "embeddings_initializer",
    "W_regularizer": "embeddings_regularizer",
    "W_constraint": "embeddings_constraint",
}


class Embedding(Layer):
    """(batch, ...) integer ids -> (batch, ..., output_dim) rows of the `embeddings` table.

    With mask_zero=True, id 0 marks padding: the output carries a mask (1.0 where the id is not
    0) that recurrent layers and GlobalAveragePooling1D honour, as in Keras.
    """

    def __init__(
        self,
        input_dim: int | None = None,
        output_dim: int | None = None,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        mask_zero: bool = False,
        input_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        legacy = rename_legacy_kwargs(
            "Embedding", {k: kwargs.pop(k) for k in list(kwargs) if k in EMBEDDING_LEGACY}, EMBEDDING_LEGACY
        )
        embeddings_initializer = legacy.get("embeddings_initializer", embeddings_initializer)
        embeddings_regularizer = legacy.get("embeddings_regularizer", embeddings_regularizer)
        embeddings_constraint = legacy.get("embeddings_constraint", kwargs.pop("embeddings_constraint", None))
        if kwargs.pop("activity_regularizer", None) is not None:
            raise ValueError("Embedding: `activity_regularizer` is not supported by graphc yet")
        if kwargs.pop("sparse", False):
            raise ValueError("Embedding: sparse=True is not supported")
        for name, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"Embedding: `{name}` must be a positive integer, got {value!r}")
        if input_length is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,) if isinstance(input_length, int) else tuple(input_length)
        super().__init__(**kwargs)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length
        if self.input_dim >= 1 << 24:
            warnings.warn(
                f"Embedding: ids up to {self.input_dim} exceed the 2**24 that float32 inputs carry exactly",
                UserWarning,
                stacklevel=2,
            )

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        self.embeddings = self.add_weight(
            "embeddings",
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            self.embeddings_regularizer,
        )

    def call(self, x: Node, ctx: CallContext) -> Node:
        return b.gather(self.weight_state(ctx, self.embeddings), b.cast(x, "int32"), 0)

    def compute_mask(self, x: Any, mask: Node | None) -> Node | None:
        if not self.mask_zero:
            return None
        return 1.0 - b.equal(b.cast(x, "float32"), 0.0)

    def input_id_limit(self) -> int | None:
        return self.input_dim

    def check_input_values(self, x: np.ndarray, what: str) -> None:
        """Whole numbers in [0, input_dim), else a ValueError naming the first bad id and its position."""
        bad = ~((x >= 0) & (x < self.input_dim) & (np.trunc(x) == x))
        if bad.any():
            position = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{what}: layer {self.name!r} (Embedding with input_dim={self.input_dim}) got id "
                f"{x[position]:g} at position {position}; ids must be whole numbers in "
                f"[0, {self.input_dim})"
            )

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        }
        if self.input_length is not None:
            config["input_length"] = self.input_length
        return config
