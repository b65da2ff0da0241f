"""Activations against numpy formulas written from the K3 reference, and their gradients."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.frontend import activations
from graphc.interpreter import evaluate
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients

X = np.array([-30, -5, -3, -2.5, -1, -0.5, -1e-3, 0, 1e-3, 0.5, 1, 2.5, 3, 5, 6, 7, 30], dtype=np.float32)


def run(fn, x: np.ndarray, dtype=np.float32, **kw) -> np.ndarray:
    g = Graph()
    node = g.input("x", TensorType(x.shape))
    g.outputs["y"] = fn(node, **kw)
    return evaluate(g, {"x": x}, dtype=dtype)[0]["y"]


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def np_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1))


def np_relu_k3(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """K3 `ReLU.static_call`, element by element."""
    x = x.astype(np.float64)
    y = np.where(x > threshold, x, 0.0) if threshold else np.maximum(x, 0.0)
    if max_value is not None:
        y = np.clip(y, 0.0, max_value)
    return y - negative_slope * np.maximum(threshold - x, 0.0)


FORMULAS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "sigmoid": np_sigmoid,
    "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0, 1),
    "tanh": np.tanh,
    "softplus": lambda x: np.logaddexp(x.astype(np.float64), 0),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "elu": np_elu,
    "selu": lambda x: 1.05070098 * np_elu(x, 1.67326324),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "exponential": lambda x: np.exp(x.astype(np.float64)),
    "silu": lambda x: x * np_sigmoid(x),
    "hard_silu": lambda x: x * np.clip(x / 6.0 + 0.5, 0, 1),
    "mish": lambda x: x * np.tanh(np.logaddexp(x.astype(np.float64), 0)),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_values_match_keras_formula(name):
    x = X[np.abs(X) < 20] if name == "exponential" else X
    np.testing.assert_allclose(run(activations.get(name), x), FORMULAS[name](x), rtol=2e-6, atol=1e-6)


def test_softplus_keeps_its_far_negative_tail():
    """Keras returns e^x where 1 + e^x rounds to 1 (softplus(-20) = 2.06e-9), and mish follows."""
    x = np.array([-30.0, -20.0, -14.5], np.float32)
    np.testing.assert_allclose(run(activations.softplus, x), np.exp(x.astype(np.float64)), rtol=1e-5)
    np.testing.assert_allclose(run(activations.mish, x), x * np.tanh(np.exp(x.astype(np.float64))), rtol=1e-5)


def test_hard_sigmoid_is_the_keras3_formula():
    assert run(activations.hard_sigmoid, np.array([1.0], np.float32))[0] == pytest.approx(2 / 3, abs=1e-6)
    np.testing.assert_array_equal(run(activations.hard_sigmoid, np.array([-3, 3], np.float32)), [0, 1])


@pytest.mark.parametrize("kw", [
    {"negative_slope": 0.1},
    {"max_value": 6.0},
    {"max_value": 2.0},
    {"threshold": 1.0},
    {"threshold": -1.0, "max_value": 4.0},
    {"negative_slope": 0.3, "threshold": 0.5},
    {"negative_slope": 0.3, "max_value": 6.0},
    {"negative_slope": 0.3, "threshold": 2.0, "max_value": 4.0},
])
def test_relu_arguments(kw):
    np.testing.assert_allclose(run(activations.relu, X, **kw), np_relu_k3(X, **kw), rtol=1e-6, atol=1e-6)


def test_leaky_relu_and_elu_arguments():
    np.testing.assert_allclose(run(activations.leaky_relu, X, negative_slope=0.3),
                               np.where(X > 0, X, 0.3 * X), rtol=1e-6)
    np.testing.assert_allclose(run(activations.elu, X, alpha=0.5), np_elu(X, 0.5), rtol=1e-6, atol=1e-7)


def test_softmax_is_stable_and_normalised():
    x = np.array([[1000.0, 1001.0, 999.0], [-1000.0, 0.0, 1.0]], np.float32)
    y = run(activations.softmax, x)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(axis=-1, keepdims=True), rtol=1e-6)
    y0 = run(activations.softmax, x, axis=0)
    e0 = np.exp(x - x.max(axis=0, keepdims=True))
    np.testing.assert_allclose(y0, e0 / e0.sum(axis=0, keepdims=True), rtol=1e-6)


def test_log_softmax_matches_log_of_softmax():
    x = np.array([[3.0, -2.0, 0.5, 80.0]], np.float32)
    expected = x - x.max() - np.log(np.exp(x - x.max()).sum())
    np.testing.assert_allclose(run(activations.log_softmax, x), expected, rtol=1e-6)


def test_sigmoid_and_softmax_keep_their_logits():
    g = Graph()
    x = g.input("x", TensorType((None, 3)))
    assert activations.sigmoid(x).meta["logits"] == ("sigmoid", x)
    assert activations.softmax(x).meta["logits"] == ("softmax", x)
    assert "logits" not in activations.softmax(x, axis=0).meta
    assert "logits" not in activations.tanh(x).meta


def _numeric_gradient(fn, x: np.ndarray, weights: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(x)
    for i in range(x.size):
        up, down = x.copy(), x.copy()
        up.flat[i] += h
        down.flat[i] -= h
        grad.flat[i] = (np.sum(weights * fn(up)) - np.sum(weights * fn(down))) / (2 * h)
    return grad


SMOOTH_POINTS = np.array([-4.0, -2.0, -0.7, -0.2, 0.3, 0.9, 1.7, 4.0, 7.5])


@pytest.mark.parametrize("name", sorted(set(FORMULAS) | {"softmax", "log_softmax"}))
def test_gradient_matches_finite_differences(name):
    fn = activations.get(name)
    x = SMOOTH_POINTS.reshape(3, 3) if name in ("softmax", "log_softmax") else SMOOTH_POINTS
    weights = np.linspace(-1.0, 2.0, x.size).reshape(x.shape)
    g = Graph()
    node = g.input("x", TensorType(x.shape))
    loss = b.reduce_sum(fn(node) * g.constant(weights))
    (grad,) = gradients(loss, [node])
    g.outputs["grad"] = grad

    def forward(v: np.ndarray) -> np.ndarray:
        return run(fn, v, dtype=np.float64)

    got = evaluate(g, {"x": x}, dtype=np.float64)[0]["grad"]
    np.testing.assert_allclose(got, _numeric_gradient(forward, x, weights), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name, expected", [("relu", 0.0), ("leaky_relu", 0.2), ("elu", 1.0),
                                            ("relu6", 0.0)])
def test_gradient_at_zero_follows_tensorflow(name, expected):
    g = Graph()
    node = g.input("x", TensorType((1,)))
    (grad,) = gradients(b.reduce_sum(activations.get(name)(node)), [node])
    g.outputs["grad"] = grad
    assert evaluate(g, {"x": np.zeros(1)})[0]["grad"][0] == pytest.approx(expected)


def test_get_and_serialize():
    assert activations.get(None) is activations.linear
    assert activations.get("swish") is activations.silu
    assert activations.get("relu") is activations.relu

    def custom(x):
        return x

    assert activations.get(custom) is custom
    assert activations.serialize(activations.get("softmax")) == "softmax"
    assert activations.serialize(activations.get("hard_swish")) == "hard_silu"
    assert activations.serialize(custom) == "custom"
    with pytest.raises(ValueError, match="unknown activation 'relux'.*leaky_relu"):
        activations.get("relux")
    with pytest.raises(TypeError):
        activations.get(3)
    with pytest.raises(ValueError, match="no name"):
        activations.serialize(lambda x: x)
