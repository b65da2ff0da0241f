"""Central differences of a loss in one of a model's weights: the oracle of the frontend's gradient tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def numeric_weight_gradient(loss: Callable[[list[np.ndarray]], float], start: Sequence[np.ndarray],
                            index: int, eps: float) -> np.ndarray:
    """d loss / d start[index], element by element: (loss(w + eps) - loss(w - eps)) / (2 eps)."""
    numeric = np.zeros(start[index].shape)
    for position in np.ndindex(start[index].shape):
        for sign in (1, -1):
            weights = [w.copy() for w in start]
            weights[index][position] += sign * eps
            numeric[position] += sign * loss(weights) / (2 * eps)
    return numeric


def model_loss(model: object, x: object, y: object) -> Callable[[list[np.ndarray]], float]:
    """The model's batch loss at given weights (it keeps them set)."""

    def loss(weights: list[np.ndarray]) -> float:
        model.set_weights(weights)  # type: ignore[attr-defined]
        return model.test_on_batch(x, y)  # type: ignore[attr-defined]

    return loss
