"""Every fit variant applies every training step to the model it returns.

The oracle is a loop of train_on_batch over the same batches, on a twin model with the same
initial weights: after fit, optimizer.iterations, the weights and evaluate must equal the loop's.
"""

from __future__ import annotations

import numpy as np
import pytest

from graphc.keras import backend
from graphc.keras.callbacks import Callback, EarlyStopping
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed

BATCH = 16
EPOCHS = 3


def _model(outputs: int, loss: str) -> Sequential:
    model = Sequential([Dense(6, activation="relu", input_shape=(5,)),
                        Dense(outputs, activation="sigmoid" if outputs == 1 else "softmax")])
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


def _twins(outputs: int, loss: str) -> tuple[Sequential, Sequential]:
    backend.clear_session()
    set_random_seed(3)
    first = _model(outputs, loss)
    second = _model(outputs, loss)
    second.set_weights(first.get_weights())
    return first, second


def _data(labels: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(90, 5)).astype(np.float32)
    classes = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    if labels == "binary_1d":
        return x, (x[:, 0] > 0).astype(np.float32)
    if labels == "binary_2d":
        return x, (x[:, 0] > 0).astype(np.float32)[:, None]
    if labels == "sparse":
        return x, classes
    return x, np.eye(3, dtype=np.float32)[classes]


CASES = {
    "binary_1d": (1, "binary_crossentropy"),
    "binary_2d": (1, "binary_crossentropy"),
    "sparse": (3, "sparse_categorical_crossentropy"),
    "onehot": (3, "categorical_crossentropy"),
}


def _loop(model: Sequential, x: np.ndarray, y: np.ndarray) -> None:
    for _ in range(EPOCHS):
        for start in range(0, len(x), BATCH):
            model.train_on_batch(x[start:start + BATCH], y[start:start + BATCH])


class _Counter(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


@pytest.mark.parametrize("labels", list(CASES))
@pytest.mark.parametrize("variant", ["plain", "validation_split", "validation_data", "callbacks"])
def test_fit_equals_a_loop_of_train_on_batch(labels: str, variant: str) -> None:
    outputs, loss = CASES[labels]
    fitted, looped = _twins(outputs, loss)
    x, y = _data(labels)
    kwargs: dict = {}
    x_train, y_train = x, y
    if variant == "validation_split":
        kwargs["validation_split"] = 0.2
        x_train, y_train = x[:72], y[:72]
    elif variant == "validation_data":
        y_val = y[60:]
        if labels == "binary_1d":
            y_val = y_val[:, None]  # the other label form must not swap the engine under fit
        kwargs["validation_data"] = (x[60:], y_val)
    elif variant == "callbacks":
        counter = _Counter()
        kwargs["callbacks"] = [counter, EarlyStopping(monitor="loss", patience=100)]
    history = fitted.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0, **kwargs)
    _loop(looped, x_train, y_train)
    steps = EPOCHS * -(-len(x_train) // BATCH)
    assert fitted.optimizer.iterations == looped.optimizer.iterations == steps
    for got, want in zip(fitted.get_weights(), looped.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fitted.predict(x, verbose=0), looped.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    if "validation" in variant:
        val_losses = history.history["val_loss"]
        assert len(val_losses) == EPOCHS and len(set(val_losses)) == EPOCHS  # the model moved every epoch
    if variant == "callbacks":
        assert counter.batches == steps


def test_validation_labels_of_another_shape_are_refused_by_name() -> None:
    model, _ = _twins(1, "binary_crossentropy")
    x, y = _data("binary_1d")
    with pytest.raises(ValueError, match="expects labels of shape"):
        model.fit(x, y, validation_data=(x, np.zeros((len(x), 4), np.float32)), verbose=0)


def test_a_failed_compile_leaves_the_previous_compiled_state_usable() -> None:
    model, twin = _twins(1, "binary_crossentropy")
    x, y = _data("binary_1d")
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    optimizer = model.optimizer
    with pytest.raises(ValueError):
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["no_such_metric"])
    assert model.optimizer is optimizer
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    _loop_once = [twin.train_on_batch(x[s:s + BATCH], y[s:s + BATCH])
                  for _ in range(2) for s in range(0, len(x), BATCH)]
    assert len(_loop_once) == model.optimizer.iterations
    for got, want in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_failed_compile_with_an_unknown_loss_keeps_the_old_loss() -> None:
    model, _ = _twins(1, "binary_crossentropy")
    with pytest.raises(ValueError):
        model.compile(optimizer="adam", loss="no_such_loss")
    assert model.loss == "binary_crossentropy" and model.compiled
