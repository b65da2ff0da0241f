"""model(x, training=True): the forward pass in training mode, as Keras's eager call runs it."""

from __future__ import annotations

import numpy as np

from graphc.keras import Sequential, backend
from graphc.keras.layers import BatchNormalization, Dense, Dropout

X = np.random.default_rng(9).normal(size=(64, 1000)).astype(np.float32) + 3.0


def test_dropout_draws_a_new_inverted_mask_per_call() -> None:
    backend.clear_session()
    model = Sequential([Dropout(0.5, input_shape=(1000,))])
    np.testing.assert_array_equal(model(X), X)
    first, second = model(X, training=True), model(X, training=True)
    for out in (first, second):
        kept = out != 0
        np.testing.assert_allclose(out[kept], 2 * X[kept], rtol=1e-6)
        assert 0.45 < kept.mean() < 0.55
    assert (first != second).any()
    assert hasattr(first, "numpy")


def test_batch_normalization_uses_and_updates_batch_statistics() -> None:
    backend.clear_session()
    model = Sequential([BatchNormalization(input_shape=(1000,)), Dense(1, use_bias=False,
                                                                      kernel_initializer="ones")])
    out = model(X, training=True)
    mean, var = X.mean(axis=0), X.var(axis=0)
    normalized = (X - mean) / np.sqrt(var + 1e-3)
    np.testing.assert_allclose(out[:, 0], normalized.sum(axis=1), rtol=1e-3, atol=1e-2)
    moving_mean = model.layers[0].get_weights()[2]
    np.testing.assert_allclose(moving_mean, 0.01 * mean, rtol=1e-4, atol=1e-6)  # momentum 0.99
