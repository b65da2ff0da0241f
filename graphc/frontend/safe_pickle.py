"""Reading pickled data files (CIFAR batches, Keras's imdb.npz) without running code from them.

Python pickles can name any function to call while loading. These files only ever hold dicts,
lists, strings, numbers and numpy arrays, so the unpickler here resolves just the numpy functions
that rebuild arrays and refuses every other global: a planted file raises instead of running.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

ALLOWED = frozenset({("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                     ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                     ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")})


class _DataOnly(pickle.Unpickler):
    def __init__(self, data: bytes, what: str) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")
        self.what = what

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: {self.what} holds only data")


def load_data_pickle(data: bytes, what: str) -> Any:
    """The object pickled in `data`, built only from containers, numbers, strings and numpy arrays."""
    return _DataOnly(data, what).load()
