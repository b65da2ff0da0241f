"""Precision, Recall, AUC and the confusion counts: Keras's documented values, scikit-learn's ROC
AUC as a second oracle, and compiled fit/evaluate logs equal to the standalone objects over the
whole data (counts added up across batches, not per-batch ratios averaged)."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.keras import Sequential, backend, metrics
from graphc.keras.layers import Dense

Y_TRUE, Y_PRED = [0, 1, 1, 1], [1, 0, 1, 1]


def test_keras_documented_values() -> None:
    precision = metrics.Precision()
    precision.update_state(Y_TRUE, Y_PRED)
    assert precision.result().numpy() == pytest.approx(2 / 3)
    precision.reset_state()
    precision.update_state(Y_TRUE, Y_PRED, sample_weight=[0, 0, 1, 0])
    assert precision.result() == pytest.approx(1.0)
    recall = metrics.Recall()
    recall.update_state(Y_TRUE, Y_PRED)
    assert recall.result() == pytest.approx(2 / 3)
    counts = {cls: cls() for cls in (metrics.TruePositives, metrics.FalsePositives, metrics.TrueNegatives,
                                     metrics.FalseNegatives)}
    for metric in counts.values():
        metric.update_state(Y_TRUE, Y_PRED)
    assert [float(m.result()) for m in counts.values()] == [2.0, 1.0, 0.0, 1.0]
    auc = metrics.AUC(num_thresholds=3)
    auc.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert auc.result() == pytest.approx(0.75)
    auc.reset_states()  # Keras 2's name
    assert auc.result() == 0.0


def test_roc_auc_approaches_scikit_learn() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 500)
    scores = np.clip(0.3 * y + rng.uniform(size=500) * 0.7, 0, 1)
    auc = metrics.AUC(num_thresholds=1000)
    auc.update_state(y, scores)
    assert auc.result() == pytest.approx(sklearn_metrics.roc_auc_score(y, scores), abs=2e-3)
    perfect = metrics.AUC(curve="PR")
    perfect.update_state([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert perfect.result() == pytest.approx(1.0)


def test_compiled_metrics_sum_counts_over_batches() -> None:
    backend.clear_session()
    rng = np.random.default_rng(2)
    x = rng.normal(size=(90, 4)).astype(np.float32)
    y = (x[:, 0] + rng.normal(size=90) > 0).astype(np.float32)
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(4,))])
    model.compile("adam", "binary_crossentropy",
                  metrics=["accuracy", metrics.AUC(), "precision", metrics.Recall(thresholds=0.3)])
    history = model.fit(x, y, epochs=1, batch_size=16, validation_split=0.2, verbose=0)
    # Keras 3 sorts the logs by name (Trainer._pythonify_logs); validation logs follow
    assert list(history.history) == ["accuracy", "auc", "loss", "precision", "recall", "val_accuracy",
                                     "val_auc", "val_loss", "val_precision", "val_recall"]
    assert model.metrics_names == ["loss", "accuracy", "auc", "precision", "recall"]
    values = model.evaluate(x, y, batch_size=7, verbose=0)
    assert len(values) == 5
    logs = model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    predictions = model.predict(x, verbose=0)
    for name, metric in (("auc", metrics.AUC()), ("precision", metrics.Precision()),
                         ("recall", metrics.Recall(thresholds=0.3))):
        metric.update_state(y, predictions)
        assert logs[name] == pytest.approx(float(metric.result()), abs=1e-6), name


def test_unsupported_arguments_say_so() -> None:
    with pytest.raises(NotImplementedError, match="top_k"):
        metrics.Precision(top_k=2)
    with pytest.raises(NotImplementedError, match="multi_label"):
        metrics.AUC(multi_label=True)
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="XY")
