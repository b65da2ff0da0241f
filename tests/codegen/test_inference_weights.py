"""Inference reads the weights as they are at each call: nothing derived from them (a packed or
transformed copy) outlives a change. The GEMM reads a Dense kernel in place and the Winograd
convolution transforms its kernel on every call; these tests pin that a predict after set_weights,
a training step or load_weights sees the new values, on every kernel path (a direct convolution
on 2 channels, a Winograd one on 16, the in-place GEMM at batch 7, the few-rows GEMM at batch 1)."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.keras import backend
from graphc.keras.layers import Conv2D, Dense, Flatten, MaxPooling2D
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed


def _model(seed: int) -> Sequential:
    backend.clear_session()
    set_random_seed(seed)
    model = Sequential([
        Conv2D(16, 3, padding="same", activation="relu", input_shape=(10, 10, 2)),
        Conv2D(16, 3, padding="same", activation="relu"),
        MaxPooling2D(),
        Flatten(),
        Dense(24, activation="relu"),
        Dense(3),
    ])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _fresh_predictions(weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """What a model compiled anew with these weights predicts (its first call)."""
    other = _model(99)
    other.set_weights(weights)
    return other.predict_on_batch(x)


@pytest.fixture
def inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((batch, 10, 10, 2), dtype=np.float32) for batch in (1, 7)]


def test_predict_sees_set_weights(inputs) -> None:
    model = _model(1)
    before = [model.predict_on_batch(x) for x in inputs]
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=w.shape).astype(np.float32) * 0.3 for w in model.get_weights()]
    model.set_weights(weights)
    for x, old in zip(inputs, before, strict=True):
        now = model.predict_on_batch(x)
        assert not np.allclose(now, old)
        np.testing.assert_allclose(now, _fresh_predictions(weights, x), rtol=1e-5, atol=1e-6)


def test_predict_sees_a_training_step(inputs) -> None:
    model = _model(2)
    before = [model.predict_on_batch(x) for x in inputs]
    x, y = inputs[1], np.ones((7, 3), np.float32)
    model.train_on_batch(x, y)
    weights = model.get_weights()
    for x, old in zip(inputs, before, strict=True):
        now = model.predict_on_batch(x)
        assert not np.allclose(now, old)
        np.testing.assert_allclose(now, _fresh_predictions(weights, x), rtol=1e-5, atol=1e-6)


def test_predict_sees_load_weights(inputs, tmp_path) -> None:
    model = _model(3)
    path = tmp_path / "first.weights.h5"
    model.save_weights(path)
    first = [model.predict_on_batch(x) for x in inputs]
    model.set_weights([w * 0.5 for w in model.get_weights()])
    assert not np.allclose(model.predict_on_batch(inputs[1]), first[1])
    model.load_weights(path)
    for x, want in zip(inputs, first, strict=True):
        np.testing.assert_array_equal(model.predict_on_batch(x), want)
