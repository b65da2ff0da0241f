"""fit's console output and callbacks on a real compiled model."""

from __future__ import annotations

import re

import numpy as np
import pytest

from graphc.keras import backend
from graphc.keras.callbacks import Callback, EarlyStopping, LearningRateScheduler
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed


@pytest.fixture()
def model():
    backend.clear_session()
    set_random_seed(0)
    m = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1, activation="sigmoid")])
    m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    return m


def _data(n=20):
    x = np.random.default_rng(1).normal(size=(n, 3)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.float32)


def test_verbose_1_draws_the_keras_3_progress_bar(model, capsys):
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=8, verbose=1)
    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    # A frame shorter than the one before it is padded with spaces over it, as Keras 3 does (a
    # step time of "1ms" after "12ms"): compare the final frame without that padding.
    final = [line.rstrip(" ") for line in re.split(r"[\r\n]", out) if line.startswith("3/3 ")]
    assert final, out
    assert re.search(r"3/3 ━{20} \d+s \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}$", final[-1])


def test_verbose_2_prints_one_line_per_epoch(model, capsys):
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=2, validation_split=0.2)
    out = capsys.readouterr().out
    assert re.search(r"^2/2 - \d+s - \d+\w+/step - accuracy: [\d.]+ - loss: [\d.]+ - val_accuracy: [\d.]+ - "
                     r"val_loss: [\d.]+$", out, re.M), out
    assert "Epoch" not in out  # one epoch: no epoch header, as Keras 3 prints it


def test_learning_rate_scheduler_drives_the_compiled_step(model):
    x, y = _data()
    seen = []

    class Recorder(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(self.model.optimizer.learning_rate)

    history = model.fit(x, y, epochs=3, verbose=0, shuffle=False,
                        callbacks=[LearningRateScheduler(lambda epoch: 0.0 if epoch == 1 else 0.1),
                                   Recorder()])
    assert seen == pytest.approx([0.1, 0.0, 0.1])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.0, 0.1])


def test_zero_learning_rate_epoch_leaves_weights_unchanged(model):
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    before = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: 0.0)])
    for a, b_ in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b_)


def test_early_stopping_stops_fit(model):
    x, y = _data()
    model.optimizer.learning_rate = 0.0  # nothing improves, so patience 1 stops after epoch 2
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[EarlyStopping(monitor="loss", patience=1)])
    assert len(history.epoch) == 2


def test_initial_epoch_and_validation_data(model):
    x, y = _data()
    history = model.fit(x, y, epochs=4, initial_epoch=2, verbose=0, validation_data=(x[:5], y[:5]))
    assert history.epoch == [2, 3]
    assert set(history.history) == {"accuracy", "loss", "val_accuracy", "val_loss"}
    loss, accuracy = model.evaluate(x[:5], y[:5], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-6)


def test_reduce_lr_on_plateau_follows_keras_3() -> None:
    """A monitor that never improves: the rate drops by `factor` every `patience` epochs, waits
    `cooldown` epochs, never goes below min_lr, and is logged as `learning_rate`."""
    from graphc.keras.callbacks import ReduceLROnPlateau
    from graphc.keras.optimizers import SGD

    model = Sequential([Dense(1, input_shape=(2,), bias_initializer="zeros")])
    model.compile(SGD(learning_rate=1.0), "mse")
    callback = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    zeros = np.zeros((4, 2), np.float32)  # zero inputs and targets: zero gradients, a constant loss
    history = model.fit(zeros, np.zeros((4, 1)), epochs=9, verbose=0, callbacks=[callback])
    rates = history.history["learning_rate"]  # logged before each epoch's reduction
    assert rates == pytest.approx([1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2])
    assert model.optimizer.learning_rate == pytest.approx(0.2)
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.5)
