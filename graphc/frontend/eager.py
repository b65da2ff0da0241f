"""Concrete results handed back where Keras hands back tensors."""

from __future__ import annotations

import numpy as np


class EagerArray(np.ndarray):
    """A numpy array that also has `.numpy()`, as the tensors Keras returns do (calling a model on
    data, a metric's result())."""

    def numpy(self) -> np.ndarray:
        return np.asarray(self)
