"""The oracle for fit: unshuffled, it applies what a loop of train_on_batch over the same batches does."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from graphc.frontend.models import Model


def assert_fit_takes_the_loops_steps(make: Callable[[], Model], x: np.ndarray, y: np.ndarray,
                                     batch_size: int, epochs: int = 2) -> None:
    """Two models from `make` with the same weights: one fitted, one trained batch by batch (a last
    batch of another size included when len(x) is not a multiple); their weights end equal."""
    fitted, looped = make(), make()
    looped.set_weights(fitted.get_weights())
    fitted.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            looped.train_on_batch(x[start:start + batch_size], y[start:start + batch_size])
    for got, want in zip(fitted.get_weights(), looped.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
