"""compile(weighted_metrics=...), sample weights per output and the top-k accuracies, as Keras 3 has
them. Oracles: numpy of the model's own predictions with Keras's formulas (a weighted metric is
sum(w*v)/sum(w) over the epoch; a loss sum(w*l)/batch size), SGD with learning rate 0 (fit's epoch
logs are then those formulas over all the data), and loss_weights (weights of 2 on an output take the
step of a loss weight of 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphc.frontend.compile_metrics import log_names
from graphc.keras import Input, Model, Sequential, backend, metrics, models, optimizers
from graphc.keras.layers import Dense

RNG = np.random.default_rng(12)
X = RNG.normal(size=(48, 4)).astype(np.float32)
FLAG = (X[:, 0] + 0.5 * RNG.normal(size=48) > 0).astype(np.float32)
KIND = RNG.integers(0, 4, size=48)
W = RNG.uniform(0.0, 3.0, size=48).astype(np.float32)
W2 = RNG.uniform(0.0, 3.0, size=48).astype(np.float32)


def _binary(learning_rate: float = 0.0, **compile_args: object) -> Sequential:
    backend.clear_session()
    model = Sequential([Dense(3, activation="tanh", input_shape=(4,)), Dense(1, activation="sigmoid")])
    model.compile(optimizers.SGD(learning_rate), "binary_crossentropy", **compile_args)
    return model


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    return float((values * weights).sum() / weights.sum())


def _bce(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_weighted_metrics_weigh_samples_and_keep_keras_names() -> None:
    model = _binary(metrics=["accuracy"], weighted_metrics=["accuracy", "mse", metrics.Precision()])
    assert model.metrics_names == ["loss", "accuracy", "weighted_accuracy", "mse", "precision"]
    logs = model.evaluate(X, FLAG, sample_weight=W, batch_size=10, verbose=0, return_dict=True)
    p = model.predict(X, verbose=0)[:, 0]
    hits = ((p > 0.5) == FLAG).astype(np.float64)
    assert logs["accuracy"] == pytest.approx(hits.mean())
    assert logs["weighted_accuracy"] == pytest.approx(_weighted_mean(hits, W), rel=1e-6)
    assert logs["mse"] == pytest.approx(_weighted_mean((p - FLAG) ** 2, W), rel=1e-5)
    positive = p > 0.5
    assert logs["precision"] == pytest.approx(W[positive & (FLAG == 1)].sum() / W[positive].sum(), rel=1e-5)
    assert logs["loss"] == pytest.approx(float((_bce(FLAG, p) * W).mean()), rel=1e-5)
    assert list(logs) == sorted(logs)
    values = model.evaluate(X, FLAG, sample_weight=W, batch_size=10, verbose=0)
    assert values == [logs[name] for name in model.metrics_names]
    unweighted = model.evaluate(X, FLAG, batch_size=10, verbose=0, return_dict=True)
    assert unweighted["weighted_accuracy"] == pytest.approx(unweighted["accuracy"])
    # test_on_batch and, with class_weight, train_on_batch (metrics of the step's forward pass)
    one = model.test_on_batch(X, FLAG, sample_weight=W, return_dict=True)
    assert one["weighted_accuracy"] == pytest.approx(logs["weighted_accuracy"], rel=1e-6)
    by_class = np.where(FLAG == 1, 3.0, 0.5)
    step = model.train_on_batch(X, FLAG, class_weight={0: 0.5, 1: 3.0}, return_dict=True)
    assert step["weighted_accuracy"] == pytest.approx(_weighted_mean(hits, by_class), rel=1e-6)


def test_fit_logs_weighted_metrics_over_the_epoch_and_for_validation() -> None:
    model = _binary(weighted_metrics=["accuracy", "mae"])  # learning rate 0: fixed predictions
    p = model.predict(X, verbose=0)[:, 0]
    hits, errors = ((p > 0.5) == FLAG).astype(np.float64), np.abs(p - FLAG)
    history = model.fit(X[:36], FLAG[:36], sample_weight=W[:36], validation_data=(X[36:], FLAG[36:], W[36:]),
                        batch_size=8, epochs=1, shuffle=False, verbose=0).history
    assert history["accuracy"][0] == pytest.approx(_weighted_mean(hits[:36], W[:36]), rel=1e-6)
    assert history["mae"][0] == pytest.approx(_weighted_mean(errors[:36], W[:36]), rel=1e-5)
    assert history["val_accuracy"][0] == pytest.approx(_weighted_mean(hits[36:], W[36:]), rel=1e-6)
    # validation_split takes the held-out samples' weights along (Keras 3); class_weight does not
    split = model.fit(X, FLAG, sample_weight=W, validation_split=0.25, batch_size=8, verbose=0).history
    assert split["val_accuracy"][0] == pytest.approx(history["val_accuracy"][0], rel=1e-6)
    assert split["val_loss"][0] == pytest.approx(float((_bce(FLAG[36:], p[36:]) * W[36:]).mean()), rel=1e-5)
    by_class = model.fit(X, FLAG, class_weight={0: 2.0, 1: 0.5}, validation_split=0.25, verbose=0).history
    assert by_class["val_accuracy"][0] == pytest.approx(hits[36:].mean())
    class_weights = np.where(FLAG[:36] == 1, 0.5, 2.0)
    assert by_class["accuracy"][0] == pytest.approx(_weighted_mean(hits[:36], class_weights))


def test_keras_3_log_names() -> None:
    plain, weighted = log_names([["accuracy", "accuracy", "mse"]], [["accuracy", "accuracy", "auc"]], [None])
    assert plain == [["accuracy", "accuracy_1", "mse"]]
    assert weighted == [["weighted_accuracy", "weighted_accuracy_1", "auc"]]
    plain, weighted = log_names([["accuracy"], []], [["accuracy"], ["mae"]], ["flag", "level"])
    assert (plain, weighted) == ([["flag_accuracy"], []], [["flag_weighted_accuracy"], ["level_mae"]])


def _two_outputs(loss_weights: list[float] | None = None, **compile_args: object) -> Model:
    backend.clear_session()
    x = Input((4,), name="x")
    hidden = Dense(5, activation="tanh", name="hidden")(x)
    flag = Dense(1, activation="sigmoid", name="flag")(hidden)
    kind = Dense(4, activation="softmax", name="kind")(hidden)
    model = Model(x, [flag, kind])
    model.compile(optimizers.SGD(0.1), ["binary_crossentropy", "sparse_categorical_crossentropy"],
                  loss_weights=loss_weights, **compile_args)
    return model


def test_each_output_loss_and_weighted_metric_takes_its_own_weights() -> None:
    model = _two_outputs(metrics={"kind": "accuracy"},
                         weighted_metrics={"flag": ["accuracy"],
                                           "kind": ["accuracy", "sparse_categorical_crossentropy"]})
    assert model.metrics_names == ["loss", "kind_accuracy", "flag_accuracy", "kind_weighted_accuracy",
                                   "kind_sparse_categorical_crossentropy", "flag_loss", "kind_loss"]
    flag_p, kind_p = model.predict(X, verbose=0)
    flag_loss = _bce(FLAG, flag_p[:, 0])
    kind_ce = -np.log(np.clip(kind_p[np.arange(48), KIND].astype(np.float64), 1e-7, 1 - 1e-7))
    kind_hits = (kind_p.argmax(1) == KIND).astype(np.float64)
    for sample_weight in ([W, W2], {"flag": W, "kind": W2}):
        logs = model.evaluate(X, [FLAG, KIND], sample_weight=sample_weight, batch_size=16, verbose=0,
                              return_dict=True)
        assert logs["flag_loss"] == pytest.approx(float((flag_loss * W).mean()), rel=1e-5)
        assert logs["kind_loss"] == pytest.approx(float((kind_ce * W2).mean()), rel=1e-5)
        assert logs["loss"] == pytest.approx(logs["flag_loss"] + logs["kind_loss"], rel=1e-6)
        flag_hits = (flag_p[:, 0] > 0.5) == FLAG
        assert logs["flag_accuracy"] == pytest.approx(_weighted_mean(flag_hits, W), rel=1e-6)
        assert logs["kind_accuracy"] == pytest.approx(kind_hits.mean())
        assert logs["kind_weighted_accuracy"] == pytest.approx(_weighted_mean(kind_hits, W2), rel=1e-6)
        assert logs["kind_sparse_categorical_crossentropy"] == pytest.approx(_weighted_mean(kind_ce, W2),
                                                                             rel=1e-5)
    # an output left out of the dict weighs its samples 1; one array weighs every output
    logs = model.evaluate(X, [FLAG, KIND], sample_weight={"kind": W2}, verbose=0, return_dict=True)
    assert logs["flag_loss"] == pytest.approx(float(flag_loss.mean()), rel=1e-5)
    logs = model.test_on_batch(X, [FLAG, KIND], sample_weight=W2, return_dict=True)
    assert logs["flag_loss"] == pytest.approx(float((flag_loss * W2).mean()), rel=1e-5)
    # a generator's (x, [y1, y2], [w1, w2]) batches are weighed as the arrays are
    parts = [slice(start, start + 16) for start in (0, 16, 32)]
    batches = ((X[part], [FLAG[part], KIND[part]], [W[part], W2[part]]) for part in parts)
    from_source = model.evaluate(batches, steps=3, verbose=0, return_dict=True)
    from_arrays = model.evaluate(X, [FLAG, KIND], sample_weight=[W, W2], batch_size=16, verbose=0,
                                 return_dict=True)
    assert from_source == pytest.approx(from_arrays, rel=1e-6)


def test_weights_per_output_take_the_steps_of_loss_weights() -> None:
    """sum(w*l)/N with w = 2 on one output and 0 on the other is the loss weights [2, 0]."""
    weighted, by_loss_weights = _two_outputs(), _two_outputs(loss_weights=[2.0, 0.0])
    by_loss_weights.set_weights(weighted.get_weights())
    ones = np.ones(48, dtype=np.float32)
    weighted.fit(X, {"flag": FLAG, "kind": KIND}, sample_weight={"flag": 2 * ones, "kind": 0 * ones},
                 batch_size=16, epochs=2, shuffle=False, verbose=0)
    weighted.train_on_batch(X[:8], [FLAG[:8], KIND[:8]], sample_weight=[2 * ones[:8], 0 * ones[:8]])
    by_loss_weights.fit(X, [FLAG, KIND], batch_size=16, epochs=2, shuffle=False, verbose=0)
    by_loss_weights.train_on_batch(X[:8], [FLAG[:8], KIND[:8]])
    for a, b in zip(weighted.get_weights(), by_loss_weights.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_bad_weights_per_output_are_named() -> None:
    model = _two_outputs()
    with pytest.raises(ValueError, match="sample_weight has 3 arrays; the model has 2 outputs"):
        model.fit(X, [FLAG, KIND], sample_weight=[W, W, W], verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight names outputs \['size'\]"):
        model.evaluate(X, [FLAG, KIND], sample_weight={"size": W}, verbose=0)
    with pytest.raises(ValueError, match=r"output 'kind'\): sample_weight must hold one weight per sample"):
        model.train_on_batch(X, [FLAG, KIND], sample_weight=[W, W[:3]])


def test_saved_files_keep_weighted_metrics(tmp_path: Path) -> None:
    model = _two_outputs(weighted_metrics={"flag": [metrics.AUC(num_thresholds=50, name="auc50")],
                                           "kind": [metrics.SparseTopKCategoricalAccuracy(k=2)]})
    labels = [FLAG, KIND]
    expected = model.evaluate(X, labels, sample_weight=[W, W2], verbose=0, return_dict=True)
    assert "flag_auc50" in expected and "kind_sparse_top_k_categorical_accuracy" in expected
    for name in ("model.h5", "model.keras"):
        model.save(tmp_path / name)
        loaded = models.load_model(tmp_path / name)
        assert loaded.metrics_names == model.metrics_names
        got = loaded.evaluate(X, labels, sample_weight=[W, W2], verbose=0, return_dict=True)
        assert got == pytest.approx(expected, rel=1e-6)
    single = _binary(weighted_metrics=[metrics.Precision(top_k=1, thresholds=[0.3, 0.6], name="p")])
    single.save(tmp_path / "single.keras")
    restored = models.load_model(tmp_path / "single.keras")
    (metric,) = restored._weighted_metric_ids
    assert (metric.name, metric.top_k, list(metric.thresholds)) == ("p", 1, [0.3, 0.6])


# -- top-k accuracies ---------------------------------------------------------------------------
SCORES = RNG.uniform(size=(48, 4)).astype(np.float32)
SCORES[0] = [0.3, 0.3, 0.3, 0.1]  # ties at the k-th place all count as in the top k (TF's in_top_k)


def _in_top_k(scores: np.ndarray, target: np.ndarray, k: int) -> np.ndarray:
    above = (scores > scores[np.arange(len(scores)), target][:, None]).sum(axis=1)
    return (above < k).astype(np.float64)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy_objects(k: int) -> None:
    expected = _in_top_k(SCORES, KIND, k)
    sparse = metrics.SparseTopKCategoricalAccuracy(k=k)
    dense = metrics.TopKCategoricalAccuracy(k=k, name="top")
    sparse.update_state(KIND[:20, None], SCORES[:20], sample_weight=W[:20])
    sparse.update_state(KIND[20:], SCORES[20:], sample_weight=W[20:])
    dense.update_state(np.eye(4)[KIND], SCORES)
    assert sparse.result() == pytest.approx(_weighted_mean(expected, W), rel=1e-6)
    assert dense.result() == pytest.approx(expected.mean())
    assert dense.get_config() == {"name": "top", "dtype": None, "k": k}
    ids = np.argsort(-SCORES, axis=1, kind="stable").astype(np.float32)
    by_ids = metrics.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True)
    by_ids.update_state(KIND, ids)
    assert by_ids.result() == pytest.approx(float((ids[:, :k] == KIND[:, None]).any(axis=1).mean()))


def test_keras_documented_top_k_values() -> None:
    dense = metrics.TopKCategoricalAccuracy(k=1)
    dense.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert dense.result() == pytest.approx(0.3)
    sparse = metrics.SparseTopKCategoricalAccuracy(k=1)
    sparse.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert sparse.result() == pytest.approx(0.5)


def test_compiled_top_k_accuracies_equal_the_objects() -> None:
    backend.clear_session()
    model = Sequential([Dense(4, activation="softmax", input_shape=(4,))])
    model.compile("sgd", "sparse_categorical_crossentropy",
                  metrics=["sparse_top_k_categorical_accuracy",
                           metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")],
                  weighted_metrics=[metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")])
    logs = model.evaluate(X, KIND, sample_weight=W, batch_size=10, verbose=0, return_dict=True)
    p = model.predict(X, verbose=0)
    assert logs["sparse_top_k_categorical_accuracy"] == 1.0  # k=5 of 4 classes
    assert logs["top2"] == pytest.approx(_in_top_k(p, KIND, 2).mean())
    assert logs["weighted_top2"] == pytest.approx(_weighted_mean(_in_top_k(p, KIND, 2), W), rel=1e-6)
    dense = Sequential([Dense(4, activation="softmax", input_shape=(4,))])
    dense.compile("sgd", "categorical_crossentropy", metrics=[metrics.TopKCategoricalAccuracy(k=2)])
    one_hot = np.eye(4, dtype=np.float32)[KIND]
    logs = dense.evaluate(X, one_hot, batch_size=10, verbose=0, return_dict=True)
    expected = _in_top_k(dense.predict(X, verbose=0), KIND, 2).mean()
    assert logs["top_k_categorical_accuracy"] == pytest.approx(expected)
