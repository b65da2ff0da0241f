"""Losses through the interpreter against numpy formulas written from the K3 reference (section 3)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from graphc.frontend import activations, losses
from graphc.interpreter import evaluate
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType
from graphc.ops.autodiff import gradients

EPS = 1e-7


def run(fn, y_true, y_pred, dtype=np.float32, batch=True, activation=None, **kw) -> np.ndarray:
    """fn(labels, predictions) on a graph whose inputs have a batch dim (or fully static shapes)."""
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    g = Graph()
    t = g.input("t", TensorType(((None,) if batch else y_true.shape[:1]) + y_true.shape[1:]))
    p = g.input("p", TensorType(((None,) if batch else y_pred.shape[:1]) + y_pred.shape[1:]))
    g.outputs["out"] = fn(t, activation(p) if activation else p, **kw)
    return evaluate(g, {"t": y_true, "p": y_pred}, dtype=dtype)[0]["out"]


def np_bce(y, p):
    p = np.clip(p, np.float32(EPS), np.float32(1 - EPS))
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=-1)


def np_cce(y, p):
    p = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
    return -(y * np.log(p)).sum(axis=-1)


def np_log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def np_hinge_labels(y):
    return 2 * y - 1 if np.all((y == 0) | (y == 1)) else y


RNG = np.random.default_rng(0)
Y_REG = RNG.normal(size=(5, 4))
P_REG = RNG.normal(size=(5, 4))
Y_POS = RNG.uniform(0.1, 3.0, size=(5, 4))
P_POS = RNG.uniform(0.1, 3.0, size=(5, 4))
Y_01 = RNG.integers(0, 2, size=(5, 4)).astype(np.float64)
P_PROB = RNG.uniform(0.05, 0.95, size=(5, 4))
Y_ONEHOT = np.eye(4)[RNG.integers(0, 4, size=5)]
P_SIMPLEX = RNG.dirichlet(np.ones(4), size=5)

CASES = {
    "mean_squared_error": (Y_REG, P_REG, lambda y, p: ((y - p) ** 2).mean(-1)),
    "mean_absolute_error": (Y_REG, P_REG, lambda y, p: np.abs(y - p).mean(-1)),
    "mean_absolute_percentage_error": (
        Y_REG, P_REG, lambda y, p: 100 * (np.abs(y - p) / np.maximum(np.abs(y), EPS)).mean(-1)),
    "mean_squared_logarithmic_error": (
        Y_POS, P_POS, lambda y, p: ((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(y, EPS) + 1)) ** 2)
        .mean(-1)),
    "hinge": (Y_01, P_REG, lambda y, p: np.maximum(1 - np_hinge_labels(y) * p, 0).mean(-1)),
    "squared_hinge": (Y_01, P_REG, lambda y, p: (np.maximum(1 - np_hinge_labels(y) * p, 0) ** 2).mean(-1)),
    "binary_crossentropy": (Y_01, P_PROB, np_bce),
    "categorical_crossentropy": (Y_ONEHOT, P_SIMPLEX, np_cce),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_per_sample_values_match_formula(name):
    y, p, formula = CASES[name]
    got = run(getattr(losses, name), y, p)
    assert got.shape == (5,)
    np.testing.assert_allclose(got, formula(y, p), rtol=2e-5, atol=1e-6)


def test_sparse_categorical_crossentropy_matches_formula():
    labels = np.argmax(Y_ONEHOT, axis=-1).astype(np.float64)
    expected = -np.take_along_axis(np_log_softmax(np.log(np.clip(P_SIMPLEX, EPS, 1 - EPS))),
                                   labels.astype(int)[:, None], axis=-1)[:, 0]
    np.testing.assert_allclose(run(losses.sparse_categorical_crossentropy, labels, P_SIMPLEX), expected,
                               rtol=1e-5)
    np.testing.assert_allclose(run(losses.sparse_categorical_crossentropy, labels[:, None], P_SIMPLEX),
                               expected, rtol=1e-5)
    np.testing.assert_allclose(expected, np_cce(Y_ONEHOT, P_SIMPLEX), rtol=1e-5)


def test_from_logits_formulas():
    z = RNG.normal(scale=3.0, size=(5, 4))
    bce = run(losses.binary_crossentropy, Y_01, z, from_logits=True)
    expected = (np.maximum(z, 0) - z * Y_01 + np.log1p(np.exp(-np.abs(z)))).mean(-1)
    np.testing.assert_allclose(bce, expected, rtol=1e-5)
    cce = run(losses.categorical_crossentropy, Y_ONEHOT, z, from_logits=True)
    np.testing.assert_allclose(cce, -(Y_ONEHOT * np_log_softmax(z)).sum(-1), rtol=1e-5)
    labels = np.argmax(Y_ONEHOT, axis=-1)
    scce = run(losses.sparse_categorical_crossentropy, labels, z, from_logits=True)
    np.testing.assert_allclose(scce, -np_log_softmax(z)[np.arange(5), labels], rtol=1e-5)


@pytest.mark.parametrize("fn, y, p, kw, expected", [
    (losses.binary_crossentropy, [[0, 1]], [[1, 1]], {}, 7.971192),
    (losses.binary_crossentropy, [[0, 1]], [[2, -1]], {"from_logits": True}, 1.720095),
    (losses.categorical_crossentropy, [[1, 0, 0]], [[0.4, 0.6, 1.0]], {}, np.log(5)),
    (losses.categorical_crossentropy, [[0, 1]], [[1, 0]], {}, 16.118095),
    (losses.sparse_categorical_crossentropy, [1], [[1, 0]], {}, 16.118095),
    (losses.mean_absolute_percentage_error, [[0, 2]], [[1, 1]], {}, 5.0e8),
    (losses.mean_squared_logarithmic_error, [[-1, 3]], [[1, 1]], {}, 0.480453),
    (losses.hinge, [[0, 1]], [[0.3, -0.2]], {}, 1.25),
    (losses.squared_hinge, [[0, 1]], [[0.3, -0.2]], {}, 1.565),
])
def test_keras_edge_case_vectors(fn, y, p, kw, expected):
    got = run(fn, y, p, **kw)
    assert got.shape == (1,)
    assert got[0] == pytest.approx(expected, rel=1e-6)


def test_hinge_converts_only_all_binary_labels():
    p = np.array([[0.3, -0.2], [0.8, 0.1]])
    plus_minus = np.array([[-1.0, 1.0], [1.0, -1.0]])
    np.testing.assert_allclose(run(losses.hinge, plus_minus, p), np.maximum(1 - plus_minus * p, 0).mean(-1))
    mixed = np.array([[0.0, 1.0], [1.0, 0.5]])
    np.testing.assert_allclose(run(losses.hinge, mixed, p), np.maximum(1 - mixed * p, 0).mean(-1),
                               rtol=1e-6)
    binary = np.array([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(run(losses.hinge, binary, p), np.maximum(1 - (2 * binary - 1) * p, 0).mean(-1),
                               rtol=1e-6)


def test_reduction_example_and_options():
    y, p = np.zeros((2, 2)), np.array([[1.0, 2.0], [3.0, 4.0]])
    assert float(run(losses.MeanSquaredError(), y, p)) == pytest.approx(7.5)
    assert float(run(losses.MeanSquaredError(reduction="sum"), y, p)) == pytest.approx(15.0)
    np.testing.assert_allclose(run(losses.MeanSquaredError(reduction=None), y, p), [2.5, 12.5])
    assert float(run(losses.MeanSquaredError(), y, p, batch=False)) == pytest.approx(7.5)
    np.testing.assert_allclose(run(losses.MeanSquaredError().per_sample, y, p), [2.5, 12.5])
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")


def test_label_smoothing():
    ls = 0.2
    got = run(losses.BinaryCrossentropy(label_smoothing=ls).per_sample, Y_01, P_PROB)
    np.testing.assert_allclose(got, np_bce(Y_01 * (1 - ls) + 0.5 * ls, P_PROB), rtol=1e-5)
    got = run(losses.CategoricalCrossentropy(label_smoothing=ls).per_sample, Y_ONEHOT, P_SIMPLEX)
    np.testing.assert_allclose(got, np_cce(Y_ONEHOT * (1 - ls) + ls / 4, P_SIMPLEX), rtol=1e-5)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing=1.5)


@pytest.mark.parametrize("loss, activation, labels", [
    (losses.BinaryCrossentropy(), activations.sigmoid, Y_01),
    (losses.CategoricalCrossentropy(), activations.softmax, Y_ONEHOT),
    (losses.SparseCategoricalCrossentropy(), activations.softmax, np.argmax(Y_ONEHOT, -1)),
])
def test_logits_shortcut(loss, activation, labels):
    z = np.array([[40.0, -35.0, 0.5, 3.0]] * 5) + RNG.normal(size=(5, 4))
    via_activation = run(loss.per_sample, labels, z, activation=activation)
    from_logits = run(type(loss)(from_logits=True).per_sample, labels, z)
    np.testing.assert_allclose(via_activation, from_logits, rtol=1e-6)
    probabilities = run(lambda t, p: activation(p), labels, z)
    clipped = run(loss.per_sample, labels, probabilities)
    assert not np.allclose(clipped, from_logits, rtol=1e-3)


def test_logits_shortcut_needs_the_matching_activation():
    z = RNG.normal(size=(5, 4))
    via_sigmoid = run(losses.categorical_crossentropy, Y_ONEHOT, z, activation=activations.sigmoid)
    sig = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(via_sigmoid, np_cce(Y_ONEHOT, sig), rtol=1e-5)


def test_from_logits_on_an_activation_output_warns_and_uses_the_logits():
    z = RNG.normal(size=(5, 4))
    with pytest.warns(UserWarning, match="from_logits=True"):
        got = run(losses.binary_crossentropy, Y_01, z, activation=activations.sigmoid, from_logits=True)
    np.testing.assert_allclose(got, run(losses.binary_crossentropy, Y_01, z, from_logits=True), rtol=1e-6)


GRADIENT_CASES = [
    (losses.MeanSquaredError(), Y_REG, P_REG, None),
    (losses.MeanAbsoluteError(), Y_REG, P_REG, None),
    (losses.MeanAbsolutePercentageError(), Y_REG, P_REG, None),
    (losses.MeanSquaredLogarithmicError(), Y_POS, P_POS, None),
    (losses.Hinge(), Y_01, P_REG, None),
    (losses.SquaredHinge(), Y_01, P_REG, None),
    (losses.BinaryCrossentropy(), Y_01, P_PROB, None),
    (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), Y_01, P_REG, None),
    (losses.BinaryCrossentropy(), Y_01, P_REG, activations.sigmoid),
    (losses.CategoricalCrossentropy(), Y_ONEHOT, P_SIMPLEX, None),
    (losses.CategoricalCrossentropy(from_logits=True), Y_ONEHOT, P_REG, None),
    (losses.CategoricalCrossentropy(label_smoothing=0.1), Y_ONEHOT, P_REG, activations.softmax),
    (losses.SparseCategoricalCrossentropy(), np.argmax(Y_ONEHOT, -1), P_SIMPLEX, None),
    (losses.SparseCategoricalCrossentropy(from_logits=True), np.argmax(Y_ONEHOT, -1), P_REG, None),
    (losses.SparseCategoricalCrossentropy(), np.argmax(Y_ONEHOT, -1), P_REG, activations.softmax),
]


@pytest.mark.parametrize("loss, y, p, activation", GRADIENT_CASES,
                         ids=[f"{c[0].name}-{i}" for i, c in enumerate(GRADIENT_CASES)])
def test_gradient_matches_finite_differences(loss, y, p, activation):
    g = Graph()
    t = g.input("t", TensorType((None,) + y.shape[1:]))
    x = g.input("p", TensorType((None,) + p.shape[1:]))
    value = loss(t, activation(x) if activation else x)
    (grad,) = gradients(value, [x])
    g.outputs["loss"], g.outputs["grad"] = value, grad

    def loss_at(v: np.ndarray) -> float:
        return float(evaluate(g, {"t": y, "p": v}, dtype=np.float64)[0]["loss"])

    h = 1e-6
    numeric = np.zeros_like(p)
    for i in range(p.size):
        up, down = p.copy(), p.copy()
        up.flat[i] += h
        down.flat[i] -= h
        numeric.flat[i] = (loss_at(up) - loss_at(down)) / (2 * h)
    got = evaluate(g, {"t": y, "p": p}, dtype=np.float64)[0]["grad"]
    np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-8)


def test_bce_logits_gradient_at_zero_is_exact():
    g = Graph()
    t = g.input("t", TensorType((None, 1)))
    z = g.input("z", TensorType((None, 1)))
    (grad,) = gradients(losses.BinaryCrossentropy(from_logits=True)(t, z), [z])
    g.outputs["grad"] = grad
    got = evaluate(g, {"t": np.array([[1.0], [0.0]]), "z": np.zeros((2, 1))})[0]["grad"]
    np.testing.assert_allclose(got, [[-0.25], [0.25]])


def test_get_and_names():
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("MSE"), losses.MeanSquaredError)
    assert isinstance(losses.get("MAPE"), losses.MeanAbsolutePercentageError)
    assert isinstance(losses.get("msle"), losses.MeanSquaredLogarithmicError)
    assert isinstance(losses.get("sparse_categorical_crossentropy"), losses.SparseCategoricalCrossentropy)
    assert isinstance(losses.get("BinaryCrossentropy"), losses.BinaryCrossentropy)
    assert isinstance(losses.get(losses.hinge), losses.Hinge)
    assert losses.get("mae").name == "mean_absolute_error"
    assert losses.get("squared_hinge").name == "squared_hinge"
    instance = losses.CategoricalCrossentropy(from_logits=True)
    assert losses.get(instance) is instance
    assert instance.get_config() == {"name": "categorical_crossentropy", "reduction": "sum_over_batch_size",
                                     "from_logits": True, "label_smoothing": 0.0}
    restored = losses.get(losses.serialize(instance))
    assert isinstance(restored, losses.CategoricalCrossentropy)
    assert restored.get_config() == instance.get_config()

    def custom(y_true, y_pred):
        return losses.mean_absolute_error(y_true, y_pred) * 2.0

    wrapped = losses.get(custom)
    assert wrapped.name == "custom"
    assert float(run(wrapped, np.zeros((2, 2)), np.ones((2, 2)))) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="unknown loss 'crossentropy'.*mean_squared_error"):
        losses.get("crossentropy")
    with pytest.raises(ValueError, match="unknown loss 'foo'"):
        losses.get("foo")


def test_label_shape():
    assert losses.get("mse").label_shape((None, 3)) == (None, 3)
    assert losses.get("binary_crossentropy").label_shape((None, 1)) == (None, 1)
    assert losses.get("sparse_categorical_crossentropy").label_shape((None, 10)) == (None,)
    assert losses.get("sparse_categorical_crossentropy").label_shape((None, 5, 10)) == (None, 5)


def test_shape_errors_name_the_loss():
    with pytest.raises(ValueError, match="mean_squared_error: y_true and y_pred must have the same shape"):
        run(losses.mean_squared_error, np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        run(losses.categorical_crossentropy, np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy: y_true must hold class indices"):
        run(losses.sparse_categorical_crossentropy, np.zeros((2, 3)), np.zeros((2, 4)))
    np.testing.assert_allclose(run(losses.mean_squared_error, np.zeros(3), np.ones((3, 1))), np.ones(3))


def test_cce_with_one_class_warns():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(losses.categorical_crossentropy, np.ones((2, 1)), np.ones((2, 1)))
    assert any("binary_crossentropy" in str(w.message) for w in caught)
