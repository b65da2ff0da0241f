"""The process-wide random state, so that one `set_random_seed` call makes a whole run repeatable."""

from __future__ import annotations

import random

import numpy as np

_rng = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Reseed our generator and, as `keras.utils.set_random_seed` does, Python's and numpy's."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: `seed` must be a non-negative integer, got {seed!r}")
    global _rng
    _rng = np.random.default_rng(int(seed))
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)


def global_rng() -> np.random.Generator:
    """The generator behind unseeded initializers, fit's shuffling and dropout seeds."""
    return _rng
