"""Metrics: graph functions vs numpy formulas, the K3 'accuracy' rule, and the stateful means."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.frontend import losses, metrics
from graphc.interpreter import evaluate
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType


def run(fn, y_true, y_pred) -> np.ndarray:
    y_true, y_pred = np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32)
    g = Graph()
    t = g.input("t", TensorType((None,) + y_true.shape[1:]))
    p = g.input("p", TensorType((None,) + y_pred.shape[1:]))
    g.outputs["out"] = fn(t, p)
    return evaluate(g, {"t": y_true, "p": y_pred})[0]["out"]


RNG = np.random.default_rng(1)
PROBS = RNG.dirichlet(np.ones(5), size=8)
LABELS = RNG.integers(0, 5, size=8)
ONEHOT = np.eye(5)[LABELS]


def test_accuracy_functions_match_formulas():
    expected = (LABELS == PROBS.argmax(-1)).astype(np.float32)
    np.testing.assert_array_equal(run(metrics.categorical_accuracy, ONEHOT, PROBS), expected)
    np.testing.assert_array_equal(run(metrics.sparse_categorical_accuracy, LABELS, PROBS), expected)
    np.testing.assert_array_equal(run(metrics.sparse_categorical_accuracy, LABELS[:, None], PROBS), expected)
    y = np.array([[1.0], [0.0], [1.0], [0.0]])
    p = np.array([[0.7], [0.5], [0.5], [0.2]])
    np.testing.assert_array_equal(run(metrics.binary_accuracy, y, p), [[1], [1], [0], [1]])
    np.testing.assert_array_equal(run(lambda t, q: metrics.binary_accuracy(t, q, threshold=0.1), y, p),
                                  [[1], [0], [1], [0]])
    np.testing.assert_array_equal(run(metrics.binary_accuracy, y[:, 0], p), [[1], [1], [0], [1]])


def test_regression_metrics_are_the_loss_functions():
    y, p = RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))
    np.testing.assert_allclose(run(metrics.mean_squared_error, y, p), ((y - p) ** 2).mean(-1), rtol=1e-5)
    np.testing.assert_allclose(run(metrics.mean_absolute_error, y, p), np.abs(y - p).mean(-1), rtol=1e-5)


@pytest.mark.parametrize("y_shape, p_shape, fn", [
    ((None, 1), (None, 1), metrics.binary_accuracy),
    ((None,), (None, 1), metrics.binary_accuracy),
    ((None,), (None, 10), metrics.sparse_categorical_accuracy),
    ((None, 1), (None, 10), metrics.sparse_categorical_accuracy),
    ((None, 10), (None, 10), metrics.categorical_accuracy),
    ((None, 2), (None, 2), metrics.categorical_accuracy),
])
def test_accuracy_resolution_rule(y_shape, p_shape, fn):
    for name in ("accuracy", "acc", "Accuracy"):
        metric = metrics.resolve(name, y_shape, p_shape)
        assert metric.fn is fn and metric.name == name


def test_crossentropy_alias_for_losses():
    assert metrics.resolve_loss_alias("crossentropy", (None, 1), (None, 1)) == "binary_crossentropy"
    assert metrics.resolve_loss_alias("ce", (None,), (None, 3)) == "sparse_categorical_crossentropy"
    assert metrics.resolve_loss_alias("ce", (None, 3), (None, 3)) == "categorical_crossentropy"
    assert metrics.resolve_loss_alias("mse", (None, 3), (None, 3)) == "mse"


def test_resolve_keeps_the_user_name():
    assert metrics.resolve("mse", (None, 2), (None, 2)).name == "mse"
    assert metrics.resolve("mean_absolute_error", (None, 2), (None, 2)).fn is losses.mean_absolute_error
    assert metrics.resolve("MAE", (None, 2), (None, 2)).fn is losses.mean_absolute_error
    assert metrics.resolve(metrics.BinaryAccuracy(name="ba"), (None, 1), (None, 1)).name == "ba"
    assert metrics.resolve(metrics.CategoricalAccuracy, (None, 3), (None, 3)).name == "categorical_accuracy"

    def my_metric(y_true, y_pred):
        return y_pred - y_true

    assert metrics.resolve(my_metric, (None, 1), (None, 1)).name == "my_metric"
    with pytest.raises(ValueError, match="unknown metric 'precision_at_k'.*accuracy"):
        metrics.resolve("precision_at_k", (None, 1), (None, 1))
    with pytest.raises(ValueError, match="per-sample"):
        metrics.resolve(metrics.Mean(), (None, 1), (None, 1))


def test_compiled_metric_gives_one_value_per_sample():
    y = RNG.integers(0, 2, size=(4, 3, 2)).astype(np.float64)
    p = RNG.uniform(size=(4, 3, 2))
    metric = metrics.resolve("binary_accuracy", y.shape, p.shape)
    got = run(metric, y, p)
    np.testing.assert_allclose(got, (y == (p > 0.5)).mean(axis=(1, 2)), rtol=1e-6)
    threshold = metrics.resolve(metrics.BinaryAccuracy(threshold=0.9), y.shape, p.shape)
    np.testing.assert_allclose(run(threshold, y, p), (y == (p > 0.9)).mean(axis=(1, 2)), rtol=1e-6)


def test_mean_reference_example():
    m = metrics.Mean()
    m.update_state([1, 3, 5, 7])
    m.update_state([2], sample_weight=[2])
    assert m.result() == pytest.approx(20 / 6)
    m.reset_state()
    assert m.result() == 0.0
    m.update_state([[1.0, 3.0], [5.0, 7.0]], sample_weight=[1.0, 3.0])
    assert m.result() == pytest.approx((2.0 + 3 * 6.0) / 4)


def test_accuracy_reference_example():
    assert metrics.Accuracy()([1, 2, 3, 4], [0, 2, 3, 4]) == pytest.approx(0.75)


def test_keras_doc_examples_of_accuracy_classes():
    m = metrics.BinaryAccuracy()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(0.5)
    c = metrics.CategoricalAccuracy()
    c.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert c.result() == pytest.approx(0.5)
    s = metrics.SparseCategoricalAccuracy()
    s.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert s.result() == pytest.approx(0.3)
    assert s.name == "sparse_categorical_accuracy"
    mse = metrics.MeanSquaredError()
    mse.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert mse.result() == pytest.approx(0.25)


def test_state_accumulates_over_batches():
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(LABELS[:3], PROBS[:3])
    m.update_state(LABELS[3:], PROBS[3:])
    assert m.result() == pytest.approx(np.mean(LABELS == PROBS.argmax(-1)))
