"""fit, evaluate and predict on generators and Sequences: the same steps as on arrays, epochs that
end as Keras's do, errors from the source raised in the caller."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from graphc.keras.layers import Dense
from graphc.keras.models import Sequential
from graphc.keras.utils import PyDataset

RNG = np.random.default_rng(2)
X = RNG.normal(size=(40, 3)).astype(np.float32)
Y = (X.sum(axis=1) > 0).astype(np.float32)


def _model() -> Sequential:
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    return model


def _pair() -> tuple[Sequential, Sequential]:
    first, second = _model(), _model()
    second.set_weights(first.get_weights())
    return first, second


def _forever(batch: int = 8):
    while True:
        for start in range(0, len(X), batch):
            yield X[start : start + batch], Y[start : start + batch]


class Batches(PyDataset):
    def __init__(self, batch: int = 8) -> None:
        super().__init__(workers=2)
        self.batch = batch
        self.epochs_ended = 0

    def __len__(self) -> int:
        return -(-len(X) // self.batch)

    def __getitem__(self, index: int):
        return X[index * self.batch : (index + 1) * self.batch], Y[
            index * self.batch : (index + 1) * self.batch
        ]

    def on_epoch_end(self) -> None:
        self.epochs_ended += 1


def test_a_generator_trains_exactly_like_the_arrays_in_order() -> None:
    arrays, generated = _pair()
    arrays.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    history = generated.fit(_forever(), steps_per_epoch=5, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    for a, b in zip(arrays.get_weights(), generated.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_sequence_runs_len_steps_and_ends_each_epoch() -> None:
    arrays, sequenced = _pair()
    data = Batches()
    arrays.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=(X, Y))
    history = sequenced.fit(data, epochs=2, verbose=0, validation_data=Batches(10))
    assert data.epochs_ended == 2
    assert history.history["val_loss"] == pytest.approx(arrays.history.history["val_loss"], rel=1e-6)
    np.testing.assert_allclose(
        sequenced.evaluate(Batches(), verbose=0), arrays.evaluate(X, Y, verbose=0), rtol=1e-6
    )
    np.testing.assert_array_equal(sequenced.predict(Batches(16), verbose=0), arrays.predict(X, verbose=0))


def test_a_finite_generator_ends_its_epoch_then_training_stops_with_a_warning() -> None:
    model = _model()
    finite = ((X[i : i + 8], Y[i : i + 8]) for i in range(0, 40, 8))
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(finite, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1  # the first epoch; the second finds nothing and stops


def test_errors_in_the_source_reach_the_caller_and_no_thread_is_left() -> None:
    def broken():
        yield X[:8], Y[:8]
        raise RuntimeError("disk on fire")

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="disk on fire"):
        _model().fit(broken(), steps_per_epoch=3, verbose=0)
    with pytest.raises(ValueError, match="no labels"):
        _model().fit((x for x in [X[:8]]), steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match="give no y"):
        _model().fit(_forever(), Y, steps_per_epoch=1, verbose=0)
    assert threading.active_count() == before


def test_keras_2_generator_methods_warn_and_work() -> None:
    model = _model()
    with pytest.warns(DeprecationWarning, match="fit_generator"):
        history = model.fit_generator(_forever(), steps_per_epoch=len(X) / 16, epochs=1, verbose=0)
    assert history.params["steps"] == 3  # Keras 2 ran ceil(len(x) / batch) steps of a float
    with pytest.warns(DeprecationWarning, match="predict_generator"):
        assert model.predict_generator(Batches(), verbose=0).shape == (40, 1)
