"""sample_weight and class_weight follow Keras 3: the loss is sum(loss_i * w_i) / batch size
("sum_over_batch_size"), metrics stay unweighted, and class_weight weighs each sample by its
label's class. Oracles: numpy losses of the model's own predictions, and SGD's linearity (weights
of 2 everywhere take the same step as twice the learning rate)."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.keras import backend
from graphc.keras.layers import Dense
from graphc.keras.losses import MeanSquaredError
from graphc.keras.models import Sequential
from graphc.keras.optimizers import SGD
from graphc.keras.utils import set_random_seed


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    w = rng.uniform(0.1, 3.0, size=40).astype(np.float32)
    return x, y, w


def _model(loss: object = "mse", learning_rate: float = 0.1, seed: int = 2) -> Sequential:
    backend.clear_session()
    set_random_seed(seed)
    model = Sequential([Dense(5, activation="tanh", input_shape=(4,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer=SGD(learning_rate=learning_rate), loss=loss, metrics=["accuracy"])
    return model


def _bce(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=-1)


def test_evaluate_weighs_each_sample_and_divides_by_the_batch_size() -> None:
    x, y, w = _data()
    model = _model()
    per_sample = ((model.predict(x, verbose=0) - y) ** 2).mean(axis=-1)
    loss, accuracy = model.evaluate(x, y, sample_weight=w, batch_size=40, verbose=0)
    assert loss == pytest.approx(float((per_sample * w).mean()), rel=1e-5)
    _, unweighted_accuracy = model.evaluate(x, y, batch_size=40, verbose=0)
    assert accuracy == pytest.approx(unweighted_accuracy)


def test_crossentropy_and_the_sum_reductions() -> None:
    x, y, w = _data()
    model = _model("binary_crossentropy")
    p = model.predict(x, verbose=0)
    assert model.test_on_batch(x, y, sample_weight=w)[0] == pytest.approx(float((_bce(y, p) * w).mean()),
                                                                          rel=1e-5)
    squared = ((p - y) ** 2).mean(axis=-1)
    model.compile(optimizer="sgd", loss=MeanSquaredError(reduction="sum"))
    assert model.test_on_batch(x, y, sample_weight=w) == pytest.approx(float((squared * w).sum()), rel=1e-5)
    model.compile(optimizer="sgd", loss=MeanSquaredError(reduction="mean_with_sample_weight"))
    assert model.test_on_batch(x, y, sample_weight=w) == pytest.approx(
        float((squared * w).sum() / w.sum()), rel=1e-5)


def test_weights_of_two_take_the_step_of_twice_the_learning_rate() -> None:
    x, y, _ = _data()
    weighted, doubled = _model(learning_rate=0.05), _model(learning_rate=0.1)
    weighted.fit(x, y, sample_weight=np.full(len(x), 2.0), batch_size=8, epochs=2, shuffle=False, verbose=0)
    doubled.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(weighted.get_weights(), doubled.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_zero_weights_leave_those_samples_out_of_training() -> None:
    x, y, _ = _data()
    keep = np.arange(len(x)) % 2 == 0
    masked, subset = _model(), _model()
    masked.train_on_batch(x, y, sample_weight=keep.astype(np.float32))
    subset.train_on_batch(x[keep], y[keep], sample_weight=np.full(keep.sum(), keep.sum() / len(x)))
    for a, b in zip(masked.get_weights(), subset.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("labels", ["binary", "sparse", "onehot"])
def test_class_weight_is_sample_weight_by_class(labels: str) -> None:
    x, y, _ = _data()
    classes = y[:, 0].astype(np.int64)
    targets = {"binary": y, "sparse": classes, "onehot": np.eye(2, dtype=np.float32)[classes]}[labels]
    loss = {"binary": "binary_crossentropy", "sparse": "sparse_categorical_crossentropy",
            "onehot": "categorical_crossentropy"}[labels]
    units = 1 if labels == "binary" else 2

    def model() -> Sequential:
        backend.clear_session()
        set_random_seed(4)
        m = Sequential([Dense(3, activation="relu", input_shape=(4,)),
                        Dense(units, activation="sigmoid" if units == 1 else "softmax")])
        m.compile(optimizer=SGD(0.1), loss=loss)
        return m

    by_class, by_sample = model(), model()
    by_class.fit(x, targets, class_weight={0: 0.5, 1: 4.0}, batch_size=10, epochs=1, shuffle=False, verbose=0)
    by_sample.fit(x, targets, sample_weight=np.where(classes == 1, 4.0, 0.5), batch_size=10, epochs=1,
                  shuffle=False, verbose=0)
    for a, b in zip(by_class.get_weights(), by_sample.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_validation_split_keeps_the_weights_of_the_training_part() -> None:
    x, y, w = _data()
    split, manual = _model(), _model()
    split.fit(x, y, sample_weight=w, validation_split=0.25, batch_size=10, epochs=1, shuffle=False, verbose=0)
    manual.fit(x[:30], y[:30], sample_weight=w[:30], batch_size=10, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(split.get_weights(), manual.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_bad_weights_are_named() -> None:
    x, y, w = _data()
    model = _model()
    with pytest.raises(ValueError, match="one weight per sample"):
        model.fit(x, y, sample_weight=w[:5], verbose=0)
    with pytest.raises(ValueError, match="not both"):
        model.fit(x, y, sample_weight=w, class_weight={0: 1.0}, verbose=0)
    with pytest.raises(ValueError, match="class_weight must be a dict"):
        model.fit(x, y, class_weight=[1.0, 2.0], verbose=0)
    with pytest.raises(ValueError, match="finite"):
        model.evaluate(x, y, sample_weight=np.full(len(x), np.nan), verbose=0)


def test_generators_may_yield_sample_weights() -> None:
    """(x, y, sample_weight) batches train and evaluate as the same arrays with sample_weight do;
    a source may mix weighted and unweighted batches (those weigh 1)."""
    x, y, w = _data()
    by_arrays, by_source = _model(), _model()

    def batches() -> object:
        for start in range(0, 40, 10):
            part = slice(start, start + 10)
            yield (x[part], y[part], w[part]) if start != 20 else (x[part], y[part])

    ones = w.copy()
    ones[20:30] = 1.0
    by_arrays.fit(x, y, sample_weight=ones, batch_size=10, epochs=2, shuffle=False, verbose=0)
    by_source.fit(_Repeat(batches), steps_per_epoch=4, epochs=2, verbose=0)
    for a, b in zip(by_arrays.get_weights(), by_source.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    loss = by_source.evaluate(_Repeat(batches), steps=4, verbose=0)[0]
    assert loss == pytest.approx(by_arrays.evaluate(x, y, sample_weight=ones, batch_size=10, verbose=0)[0],
                                 rel=1e-6)


class _Repeat:
    """An endless generator of the same epoch, as Keras 2 tutorials write them."""

    def __init__(self, make: object) -> None:
        self.make = make

    def __iter__(self) -> object:
        while True:
            yield from self.make()


def test_validation_data_may_carry_sample_weights() -> None:
    x, y, w = _data()
    model = _model()
    history = model.fit(x[:30], y[:30], validation_data=(x[30:], y[30:], w[30:]), epochs=1, verbose=0)
    weighted = model.evaluate(x[30:], y[30:], sample_weight=w[30:], verbose=0)[0]
    assert history.history["val_loss"][-1] == pytest.approx(weighted, rel=1e-6)
    assert weighted != pytest.approx(model.evaluate(x[30:], y[30:], verbose=0)[0], rel=1e-3)
    with pytest.raises(ValueError, match="sample_weight must hold one weight per sample"):
        model.fit(x[:30], y[:30], validation_data=(x[30:], y[30:], w[:3]), verbose=0)
