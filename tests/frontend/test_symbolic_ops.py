"""Arithmetic and keras.ops on symbolic tensors (functional models, subclassed models' call): each
becomes an operation layer of the graph, checked against numpy and finite differences, saved by
name and loaded back from graphc's table of operations only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from graphc import keras
from graphc.keras import Input, Model, backend, layers, ops
from graphc.keras.models import load_model, model_from_json
from graphc.keras.optimizers import SGD
from tests.frontend.finite_differences import numeric_weight_gradient

RNG = np.random.default_rng(31)
X = RNG.normal(size=(7, 4)).astype(np.float32)
Y = RNG.normal(size=(7, 1)).astype(np.float32)


def _model() -> Model:
    backend.clear_session()
    inputs = Input((4,))
    hidden = layers.Dense(4, activation="tanh")(inputs)
    mixed = 2.0 * (hidden + inputs) - 1.0  # a residual connection and constants on both sides
    joined = ops.concatenate([mixed, ops.square(hidden)], axis=-1)
    scaled = joined / (1.0 + ops.abs(ops.mean(joined, axis=-1, keepdims=True)))
    model = Model(inputs, layers.Dense(1)(-scaled))
    model.compile(SGD(1.0), "mse")
    return model


def _numpy(weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    kernel, bias, out_kernel, out_bias = weights
    hidden = np.tanh(x @ kernel + bias)
    joined = np.concatenate([2.0 * (hidden + x) - 1.0, hidden ** 2], axis=-1)
    scaled = joined / (1.0 + np.abs(joined.mean(axis=-1, keepdims=True)))
    return -scaled @ out_kernel + out_bias


def test_operations_compute_what_numpy_does() -> None:
    model = _model()
    np.testing.assert_allclose(model.predict(X, verbose=0), _numpy(model.get_weights(), X), rtol=1e-5,
                               atol=1e-6)
    names = [layer.name for layer in model.layers if type(layer).__name__ == "TensorOperation"]
    assert names[:3] == ["add", "multiply", "subtract"]


def test_gradients_flow_through_operations() -> None:
    model = _model()
    start = [w.astype(np.float64) for w in model.get_weights()]
    model.train_on_batch(X, Y)
    steps = [w0 - w1 for w0, w1 in zip(start, model.get_weights(), strict=True)]

    def loss(weights: list[np.ndarray]) -> float:
        return float(((_numpy(weights, X.astype(np.float64)) - Y) ** 2).mean())

    eps = 1e-6
    for index in (0, 1):
        numeric = numeric_weight_gradient(loss, start, index, eps)
        np.testing.assert_allclose(steps[index], numeric, rtol=1e-3, atol=1e-6)


def test_saved_models_name_their_operations(tmp_path: Path) -> None:
    model = _model()
    expected = model.predict(X, verbose=0)
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict(X, verbose=0), expected, rtol=1e-6)
    model.save(tmp_path / "ops.keras")
    np.testing.assert_allclose(load_model(tmp_path / "ops.keras").predict(X, verbose=0), expected, rtol=1e-6)
    config = json.loads(model.to_json())
    entry = next(e for e in config["config"]["layers"] if e["class_name"] == "TensorOperation")
    entry["config"]["op"] = "os.system"
    with pytest.raises(ValueError, match="unknown operation 'os.system'"):
        model_from_json(json.dumps(config))


def test_subclassed_models_may_use_operations_in_call() -> None:
    backend.clear_session()

    class Residual(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.inner = layers.Dense(4, activation="relu")
            self.head = layers.Dense(1)

        def call(self, x: object) -> object:
            return self.head(ops.relu(x + self.inner(x)) * 0.5)

    model = Residual()
    model.compile("adam", "mse")
    model.fit(X, Y, epochs=1, verbose=0)
    kernel, bias, head_kernel, head_bias = model.get_weights()
    expected = np.maximum(X + np.maximum(X @ kernel + bias, 0), 0) * 0.5 @ head_kernel + head_bias
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]  # its own layers, as Keras lists


def test_numpy_values_on_the_left_and_bad_arguments() -> None:
    backend.clear_session()
    inputs = Input((4,))
    shifted = np.float32(3.0) - inputs
    model = Model(inputs, shifted)
    np.testing.assert_allclose(model.predict(X, verbose=0), 3.0 - X, rtol=1e-6)
    with pytest.raises(TypeError, match="takes tensors and plain numbers, got ndarray"):
        ops.add(inputs, np.ones((1, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"operation 'add(_\d+)?' \(add\) cannot take tensors of shapes"):
        ops.add(inputs, Input((3,)))
