"""The data of a model with several inputs, in the one shape the batch loops handle.

`fit`, `evaluate` and `predict` slice, count and measure their x; for a model with several
inputs x is a `ModelInputs`: the per-input float32 arrays, sliced together. `shape` is
(samples, *per-input sample shapes) so that `x.shape[1:]` names what the model is built for, as
it does for one array.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc.frontend.data import as_float_array


class ModelInputs:
    def __init__(self, arrays: Sequence[np.ndarray]) -> None:
        self.arrays = tuple(arrays)
        lengths = {len(a) for a in self.arrays}
        if len(lengths) > 1:
            raise ValueError(f"Data cardinality is ambiguous: the model inputs have "
                             f"{[len(a) for a in self.arrays]} samples; give every input the same number")

    @classmethod
    def of(cls, x: Any, names: Sequence[str], what: str = "inputs") -> ModelInputs:
        """From a list or tuple in the model's input (or output) order, or a dict keyed by the
        Input (or output) layers' names."""
        if isinstance(x, ModelInputs):
            return x
        if isinstance(x, Mapping):
            missing = [name for name in names if name not in x]
            extra = [key for key in x if key not in names]
            if missing or extra:
                raise ValueError(f"the model's {what} are {list(names)}; the dict given has {list(x)}")
            x = [x[name] for name in names]
        if not isinstance(x, (list, tuple)) or len(x) != len(names):
            given = f"{len(x)} arrays" if isinstance(x, (list, tuple)) else f"a {type(x).__name__}"
            raise ValueError(f"the model has {len(names)} {what} {list(names)}: give a list of {len(names)} "
                             f"arrays (or a dict by name), got {given}")
        pairs = enumerate(zip(x, names, strict=True))
        letter = "x" if what == "inputs" else "y"
        return cls([as_float_array(array, f"{letter}[{i}] ({name})") for i, (array, name) in pairs])

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: Any) -> ModelInputs:
        return ModelInputs([a[index] for a in self.arrays])

    @property
    def shape(self) -> tuple[Any, ...]:
        return (len(self), *(tuple(a.shape[1:]) for a in self.arrays))
