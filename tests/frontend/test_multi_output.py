"""Functional models with several outputs: losses per output (one for all, a list, a dict by
output name) weighed by loss_weights, checked against numpy from the weights; the gradient of
the weighted sum against finite differences; Keras 3's log names and orders; saved files keep
the per-output compile configuration; clear errors where an argument does not fit the outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphc.build.aot import compile_model
from graphc.keras import Input, Model, backend, models, optimizers
from graphc.keras.layers import Dense

RNG = np.random.default_rng(41)
X = RNG.normal(size=(40, 4)).astype(np.float32)
FLAG = (X[:, 0] > 0).astype(np.float32)
KIND = RNG.integers(0, 3, size=40).astype(np.float32)
LEVEL = RNG.normal(size=(40, 2)).astype(np.float32)


def _model() -> Model:
    """x -> tanh hidden -> flag (sigmoid, 1), kind (softmax, 3), level (linear, 2)."""
    backend.clear_session()
    x = Input((4,), name="x")
    hidden = Dense(6, activation="tanh", name="hidden")(x)
    flag = Dense(1, activation="sigmoid", name="flag")(hidden)
    kind = Dense(3, activation="softmax", name="kind")(hidden)
    level = Dense(2, name="level")(hidden)
    return Model(x, [flag, kind, level])


def _numpy_outputs(weights: list[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    w = [np.asarray(a, dtype=np.float64) for a in weights]
    hidden = np.tanh(x @ w[0] + w[1])
    flag = 1 / (1 + np.exp(-(hidden @ w[2] + w[3])))
    logits = hidden @ w[4] + w[5]
    kind = np.exp(logits - logits.max(axis=1, keepdims=True))
    kind /= kind.sum(axis=1, keepdims=True)
    return [flag, kind, hidden @ w[6] + w[7]]


def _numpy_losses(weights: list[np.ndarray], x: np.ndarray, sample_weight: np.ndarray | None = None
                  ) -> list[float]:
    """binary crossentropy, sparse categorical crossentropy and mse with Keras's clipping."""
    flag, kind, level = _numpy_outputs(weights, x)
    eps = 1e-7
    p = np.clip(flag[:, 0], eps, 1 - eps)
    per_sample = [-(FLAG[:len(x)] * np.log(p) + (1 - FLAG[:len(x)]) * np.log(1 - p)),
                  -np.log(np.clip(kind[np.arange(len(x)), KIND[:len(x)].astype(int)], eps, 1 - eps)),
                  ((level - LEVEL[:len(x)]) ** 2).mean(axis=1)]
    w = np.ones(len(x)) if sample_weight is None else sample_weight
    return [float((values * w).mean()) for values in per_sample]


LOSSES = {"flag": "binary_crossentropy", "kind": "sparse_categorical_crossentropy", "level": "mse"}
WEIGHTS = {"flag": 2.0, "kind": 0.5, "level": 1.5}


def test_the_loss_is_the_weighted_sum_of_each_outputs_loss() -> None:
    model = _model()
    model.compile("sgd", loss=LOSSES, loss_weights=WEIGHTS, metrics={"flag": "accuracy"})
    logs = model.evaluate(X, {"flag": FLAG, "kind": KIND, "level": LEVEL}, verbose=0, return_dict=True)
    expected = _numpy_losses(model.get_weights(), X.astype(np.float64))
    for name, value in zip(LOSSES, expected, strict=True):
        assert logs[f"{name}_loss"] == pytest.approx(value, rel=1e-5), name  # logged unweighted, as Keras
    total = sum(WEIGHTS[name] * value for name, value in zip(LOSSES, expected, strict=True))
    assert logs["loss"] == pytest.approx(total, rel=1e-5)
    flag_pred = _numpy_outputs(model.get_weights(), X.astype(np.float64))[0][:, 0]
    assert logs["flag_accuracy"] == pytest.approx(float(((flag_pred > 0.5) == FLAG).mean()))
    # the list forms name the same losses and weights in output order
    twin = _model()
    twin.set_weights(model.get_weights())
    twin.compile("sgd", loss=list(LOSSES.values()), loss_weights=list(WEIGHTS.values()))
    assert twin.evaluate(X, [FLAG, KIND, LEVEL], verbose=0) == pytest.approx(
        [logs["loss"], logs["flag_loss"], logs["kind_loss"], logs["level_loss"]], rel=1e-6)


def test_one_sgd_step_follows_the_finite_difference_gradient_of_the_weighted_sum() -> None:
    model = _model()
    lr = 0.1
    model.compile(optimizers.SGD(learning_rate=lr), loss=LOSSES, loss_weights=WEIGHTS)
    before = [w.astype(np.float64) for w in model.get_weights()]
    batch = slice(0, 16)
    model.train_on_batch(X[batch], [FLAG[batch], KIND[batch], LEVEL[batch]])
    after = model.get_weights()

    def total(weights: list[np.ndarray]) -> float:
        losses = _numpy_losses(weights, X[batch].astype(np.float64))
        return sum(WEIGHTS[name] * value for name, value in zip(LOSSES, losses, strict=True))

    h = 1e-6
    for index, weight in enumerate(before):
        gradient = np.zeros_like(weight)
        for position in np.ndindex(weight.shape):
            up = [w.copy() for w in before]
            down = [w.copy() for w in before]
            up[index][position] += h
            down[index][position] -= h
            gradient[position] = (total(up) - total(down)) / (2 * h)
        np.testing.assert_allclose((weight - after[index]) / lr, gradient, rtol=2e-3, atol=2e-4)


def test_logs_predictions_and_sample_weights_follow_keras() -> None:
    model = _model()
    model.compile("adam", loss=LOSSES, metrics=[["accuracy"], ["accuracy"], ["mae"]])
    history = model.fit(X, [FLAG, KIND, LEVEL], epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    train = ["flag_accuracy", "flag_loss", "kind_accuracy", "kind_loss", "level_loss", "level_mae", "loss"]
    assert list(history.history) == train + [f"val_{name}" for name in train]  # sorted, as Keras 3
    assert model.metrics_names == ["loss", "flag_accuracy", "kind_accuracy", "level_mae", "flag_loss",
                                   "kind_loss", "level_loss"]
    values = model.evaluate(X, [FLAG, KIND, LEVEL], verbose=0)
    logs = model.evaluate(X, [FLAG, KIND, LEVEL], verbose=0, return_dict=True)
    assert values == [logs[name] for name in model.metrics_names]
    predictions = model.predict(X, batch_size=7, verbose=0)
    expected = _numpy_outputs(model.get_weights(), X.astype(np.float64))
    assert isinstance(predictions, list) and len(predictions) == 3
    for got, want in zip(predictions, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for got, want in zip(model.predict_on_batch(X[:5]), expected, strict=True):
        np.testing.assert_allclose(got, want[:5], rtol=1e-5, atol=1e-6)
    for got, want in zip(model(X[:3]), expected, strict=True):
        np.testing.assert_allclose(got, want[:3], rtol=1e-5, atol=1e-6)
    assert model.output_shape == [(None, 1), (None, 3), (None, 2)]
    # one sample_weight array weighs every output's loss
    sample_weight = RNG.uniform(0.0, 2.0, size=40).astype(np.float32)
    weighted = model.evaluate(X, [FLAG, KIND, LEVEL], sample_weight=sample_weight, verbose=0,
                              return_dict=True)
    losses = _numpy_losses(model.get_weights(), X.astype(np.float64), sample_weight.astype(np.float64))
    assert weighted["loss"] == pytest.approx(sum(losses), rel=1e-5)


def test_saved_files_keep_the_losses_weights_and_metrics_per_output(tmp_path: Path) -> None:
    model = _model()
    model.compile("adam", loss=LOSSES, loss_weights=WEIGHTS, metrics={"flag": ["accuracy"], "level": "mae"})
    model.fit(X, [FLAG, KIND, LEVEL], epochs=1, batch_size=10, verbose=0)
    labels = [FLAG, KIND, LEVEL]
    expected = model.evaluate(X, labels, verbose=0, return_dict=True)
    for name in ("model.h5", "model.keras"):
        model.save(tmp_path / name)
        loaded = models.load_model(tmp_path / name)
        assert loaded.evaluate(X, labels, verbose=0, return_dict=True) == pytest.approx(expected, rel=1e-6)
        assert loaded.metrics_names == model.metrics_names


def test_arguments_that_do_not_fit_the_outputs_are_named() -> None:
    model = _model()
    with pytest.raises(ValueError, match="has 2 entries; the model has 3 outputs"):
        model.compile("adam", loss=["mse", "mse"])
    with pytest.raises(ValueError, match=r"names outputs \['flag', 'size'\]"):
        model.compile("adam", loss={"flag": "mse", "size": "mse"})
    with pytest.raises(ValueError, match="names outputs"):
        model.compile("adam", loss="mse", metrics={"colour": "mae"})
    with pytest.raises(ValueError, match="loss_weights must be numbers"):
        model.compile("adam", loss="mse", loss_weights=[1.0, "two", 3.0])
    model.compile("adam", loss=LOSSES)
    with pytest.raises(ValueError, match=r"the model has 3 outputs \['flag', 'kind', 'level'\]"):
        model.fit(X, [FLAG, KIND], verbose=0)
    with pytest.raises(ValueError, match="the model's outputs are"):
        model.evaluate(X, {"flag": FLAG, "kind": KIND, "size": LEVEL}, verbose=0)
    with pytest.raises(ValueError, match="class_weight is only supported for models with a single output"):
        model.fit(X, [FLAG, KIND, LEVEL], class_weight={0: 1.0, 1: 2.0}, verbose=0)
    single = Model(model.inputs, model.outputs[:1])
    with pytest.raises(ValueError, match="this model has one output"):
        single.compile("adam", loss="mse", loss_weights=[1.0])


def test_ahead_of_time_compilation_refuses_several_outputs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="3 outputs; the C API takes one input and one output"):
        compile_model(_model(), tmp_path)


def test_fit_takes_the_steps_of_a_train_on_batch_loop() -> None:
    model, twin = _model(), _model()
    twin.set_weights(model.get_weights())
    for each in (model, twin):
        each.compile(optimizers.Adam(0.01), loss=LOSSES, loss_weights=WEIGHTS, metrics={"kind": "accuracy"})
    model.fit(X, {"flag": FLAG, "kind": KIND, "level": LEVEL}, batch_size=16, epochs=2, shuffle=False,
              verbose=0)
    for _ in range(2):
        for start in range(0, 40, 16):
            part = slice(start, start + 16)
            twin.train_on_batch(X[part], [FLAG[part], KIND[part], LEVEL[part]])
    for a, b in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
