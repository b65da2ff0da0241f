"""Precision, Recall, AUC and the confusion counts: Keras's documented values, numpy transcriptions of
Keras 3's formulas (top_k, class_id, multi-label and label-weighted AUC, from_logits, sample weights),
scikit-learn's ROC AUC as a second oracle, and compiled fit/evaluate logs equal to the standalone
objects over the same batches (counts added up across batches, not per-batch ratios averaged)."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.keras import Sequential, backend, losses, metrics
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


def test_arguments_that_cannot_apply_say_so() -> None:
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="XY")
    with pytest.raises(ValueError, match="num_labels"):
        metrics.AUC(num_labels=3)
    with pytest.raises(ValueError, match="thresholds must lie in"):
        metrics.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(TypeError):  # Keras 3's counts take no top_k
        metrics.TruePositives(top_k=2)
    with pytest.raises(ValueError, match="top_k=4 needs predictions with at least 4 classes"):
        metrics.Precision(top_k=4).update_state(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="class_id=3"):
        metrics.Recall(class_id=3).update_state(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="multi_label needs predictions of shape"):
        metrics.AUC(multi_label=True, num_labels=4).update_state(np.eye(3), np.eye(3))


# -- numpy transcriptions of Keras 3 (metrics_utils.update_confusion_matrix_variables, AUC.result) ----
NEG_INF = -1e10


def keras_counts(y_true: np.ndarray, y_pred: np.ndarray, thresholds: list[float], *, top_k: int | None = None,
                 class_id: int | None = None, sample_weight: np.ndarray | None = None,
                 multi_label: bool = False, label_weights: np.ndarray | None = None,
                 evenly: bool = False) -> dict[str, np.ndarray]:
    """Labels and predictions of one shape (samples, classes); sample weights one per sample."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float32).astype(np.float64)
    weights = np.ones_like(y_pred) if sample_weight is None else np.broadcast_to(
        np.asarray(sample_weight, dtype=np.float64)[:, None], y_pred.shape)
    if top_k is not None:  # ops.top_k (ties: lower index first), then x*mask + NEG_INF*(1-mask)
        best = np.argsort(-y_pred, axis=-1, kind="stable")[:, :top_k]
        mask = np.zeros_like(y_pred)
        np.put_along_axis(mask, best, 1.0, axis=-1)
        y_pred = y_pred * mask + NEG_INF * (1 - mask)
    if class_id is not None:
        y_true, y_pred, weights = (a[:, class_id:class_id + 1] for a in (y_true, y_pred, weights))
    if evenly:  # the bucketed path Keras takes for evenly spaced thresholds clips first
        y_pred = np.clip(y_pred, 0.0, 1.0)
    if label_weights is not None and not multi_label:
        weights = weights * np.asarray(label_weights)
    positive = y_pred[..., None] > np.asarray(thresholds, dtype=np.float32)
    truth = (y_true != 0)[..., None]
    axes = (0,) if multi_label else (0, 1)
    w = weights[..., None]
    return {"tp": (w * (truth & positive)).sum(axes), "fp": (w * (~truth & positive)).sum(axes),
            "tn": (w * (~truth & ~positive)).sum(axes), "fn": (w * (truth & ~positive)).sum(axes)}


def keras_roc_auc(counts: dict[str, np.ndarray], label_weights: np.ndarray | None = None) -> float:
    """Riemann sum with interpolation over (FPR, TPR); per label (last axis of (labels, T) counts),
    then the mean or label_weights' weighted mean."""
    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.divide(a, b, out=np.zeros_like(a), where=b != 0)

    tpr = ratio(counts["tp"], counts["tp"] + counts["fn"])
    fpr = ratio(counts["fp"], counts["fp"] + counts["tn"])
    areas = np.sum((fpr[..., :-1] - fpr[..., 1:]) * (tpr[..., :-1] + tpr[..., 1:]) / 2, axis=-1)
    if np.ndim(areas) == 0:
        return float(areas)
    if label_weights is None:
        return float(areas.mean())
    return float((areas * label_weights).sum() / np.sum(label_weights))


def auc_thresholds(count: int = 200) -> list[float]:
    return [-1e-7, *[(i + 1) / (count - 1) for i in range(count - 2)], 1 + 1e-7]


RNG = np.random.default_rng(8)
LABELS = (RNG.uniform(size=(40, 4)) < [0.3, 0.5, 0.2, 0.6]).astype(np.float32)
SCORES = np.clip(0.35 * LABELS + 0.65 * RNG.uniform(size=(40, 4)), 0, 1).astype(np.float32)
SCORES[3, :] = SCORES[3, 0]  # a row of ties: top_k keeps the lowest indices
WEIGHTS = RNG.uniform(0.0, 2.0, size=40).astype(np.float32)


def precision_recall(counts: dict[str, np.ndarray]) -> tuple[float, float]:
    tp, fp, fn = (float(counts[key][0]) for key in ("tp", "fp", "fn"))
    return (tp / (tp + fp) if tp + fp else 0.0), (tp / (tp + fn) if tp + fn else 0.0)


@pytest.mark.parametrize("top_k, class_id", [(1, None), (2, None), (None, 1), (2, 3), (1, 0)])
@pytest.mark.parametrize("weighted", [False, True])
def test_precision_and_recall_with_top_k_and_class_id(top_k: int | None, class_id: int | None,
                                                      weighted: bool) -> None:
    weights = WEIGHTS if weighted else None
    threshold = NEG_INF if top_k is not None else 0.5
    expected = precision_recall(keras_counts(LABELS, SCORES, [threshold], top_k=top_k, class_id=class_id,
                                             sample_weight=weights))
    precision = metrics.Precision(top_k=top_k, class_id=class_id)
    recall = metrics.Recall(top_k=top_k, class_id=class_id)
    for start in (0, 15):  # two updates add up
        part = slice(start, start + 15 if start == 0 else None)
        for metric in (precision, recall):
            metric.update_state(LABELS[part], SCORES[part],
                                sample_weight=None if weights is None else weights[part])
    assert (float(precision.result()), float(recall.result())) == pytest.approx(expected, abs=1e-6)


def test_keras_documented_top_k_values_and_evenly_spaced_thresholds() -> None:
    for k, value in ((2, 0.0), (4, 0.5)):
        precision = metrics.Precision(top_k=k)
        precision.update_state([0, 0, 1, 1], [1, 1, 1, 1])
        assert precision.result() == pytest.approx(value)
    # [0, 0.5, 1] is evenly spaced: Keras buckets clipped predictions, so 1.5 is not above 1
    counts = metrics.TruePositives(thresholds=[0.0, 0.5, 1.0])
    counts.update_state([1, 1, 1], [1.5, 0.7, -0.2])
    np.testing.assert_allclose(counts.result(), [2.0, 2.0, 0.0])
    expected = keras_counts(np.ones((3, 1)), np.array([[1.5], [0.7], [-0.2]]), [0.0, 0.5, 1.0], evenly=True)
    np.testing.assert_allclose(counts.result(), expected["tp"])
    uneven = metrics.TruePositives(thresholds=[0.2, 1.0])
    uneven.update_state([1, 1, 1], [1.5, 0.7, -0.2])
    np.testing.assert_allclose(uneven.result(), [2.0, 1.0])


@pytest.mark.parametrize("curve_args", [{}, {"label_weights": [1.0, 2.0, 0.0, 0.5]}])
def test_multi_label_auc_is_the_mean_of_the_labels_aucs(curve_args: dict) -> None:
    label_weights = curve_args.get("label_weights")
    auc = metrics.AUC(multi_label=True, num_labels=4, **curve_args)
    auc.update_state(LABELS, SCORES, sample_weight=WEIGHTS)
    counts = keras_counts(LABELS, SCORES, auc_thresholds(), sample_weight=WEIGHTS, multi_label=True,
                          evenly=True)
    lw = None if label_weights is None else np.asarray(label_weights)
    assert auc.result() == pytest.approx(keras_roc_auc(counts, lw), abs=1e-6)
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    fine = metrics.AUC(num_thresholds=2000, multi_label=True, **curve_args)
    fine.update_state(LABELS, SCORES)
    per_label = [sklearn_metrics.roc_auc_score(LABELS[:, j], SCORES[:, j]) for j in range(4)]
    assert fine.result() == pytest.approx(np.average(per_label, weights=lw), abs=2e-3)


def test_flat_auc_with_label_weights_and_logits() -> None:
    logits = (SCORES - 0.5) * 6
    weights = np.array([0.5, 1.0, 2.0, 0.0])
    auc = metrics.AUC(label_weights=weights, from_logits=True)
    auc.update_state(LABELS, logits)
    probabilities = 1 / (1 + np.exp(-logits.astype(np.float32)))
    counts = keras_counts(LABELS, probabilities, auc_thresholds(), label_weights=weights, evenly=True)
    assert auc.result() == pytest.approx(keras_roc_auc(counts), abs=1e-5)
    pr = metrics.AUC(curve="PR", multi_label=True, from_logits=True)
    pr.update_state(LABELS, logits)
    plain = metrics.AUC(curve="PR", multi_label=True)
    plain.update_state(LABELS, probabilities)
    assert pr.result() == pytest.approx(float(plain.result()), abs=1e-6)


def _compiled_options() -> list:
    return [metrics.Precision(top_k=2, name="p_top2"), metrics.Recall(top_k=1, name="r_top1"),
            metrics.Precision(class_id=1, thresholds=0.0, name="p_c1"),
            metrics.Recall(top_k=2, class_id=3, name="r_top2_c3"),
            metrics.Recall(thresholds=[0.0, 0.5, 1.0], name="r_three"),
            metrics.AUC(multi_label=True, from_logits=True, name="auc_ml"),
            metrics.AUC(multi_label=True, num_labels=4, label_weights=[1, 2, 0, 1], from_logits=True,
                        name="auc_lw"),
            metrics.AUC(label_weights=[1, 2, 0, 1], from_logits=True, name="auc_flat"),
            metrics.AUC(curve="PR", multi_label=True, from_logits=True, name="pr_ml"),
            metrics.TrueNegatives(thresholds=[0.0, 1.0], name="tn")]


def test_compiled_options_equal_the_standalone_objects() -> None:
    """A model with logits as outputs: every option in metrics= (unweighted) and weighted_metrics=
    (the same objects, logged as weighted_<name>) equals the standalone objects fed the same batches."""
    backend.clear_session()
    x = RNG.normal(size=(40, 5)).astype(np.float32)
    model = Sequential([Dense(4, input_shape=(5,))])
    model.compile("sgd", losses.BinaryCrossentropy(from_logits=True), metrics=_compiled_options(),
                  weighted_metrics=_compiled_options())
    logs = model.evaluate(x, LABELS, sample_weight=WEIGHTS, batch_size=16, verbose=0, return_dict=True)
    logits = model.predict(x, verbose=0)
    for plain, weighted in zip(_compiled_options(), _compiled_options(), strict=True):
        for start in range(0, 40, 16):
            part = slice(start, start + 16)
            plain.update_state(LABELS[part], logits[part])
            weighted.update_state(LABELS[part], logits[part], sample_weight=WEIGHTS[part])
        np.testing.assert_allclose(logs[plain.name], plain.result(), atol=1e-6, err_msg=plain.name)
        np.testing.assert_allclose(logs[f"weighted_{plain.name}"], weighted.result(), atol=1e-6,
                                   err_msg=plain.name)
    assert logs["auc_ml"] != pytest.approx(logs["weighted_auc_ml"], abs=1e-4)
