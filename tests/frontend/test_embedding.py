"""Embedding: Keras's lookup, its gradient (repeated ids accumulate), ids checked before native code."""

from __future__ import annotations

import numpy as np
import pytest

from graphc import keras
from graphc.keras.layers import Dense, Embedding, Flatten
from graphc.keras.models import Sequential

RNG = np.random.default_rng(8)


def _model(**kwargs) -> Sequential:
    model = Sequential([Embedding(10, 3, input_length=4, **kwargs), Flatten(), Dense(1)])
    model.compile(keras.optimizers.SGD(learning_rate=0.1), "mse")
    return model


def test_lookup_and_its_gradient_match_numpy() -> None:
    model = _model()
    table, kernel, bias = model.get_weights()
    ids = np.array([[1, 2, 2, 9], [0, 1, 1, 1]], dtype=np.int32)
    np.testing.assert_allclose(
        model.predict(ids, verbose=0), table[ids].reshape(2, 12) @ kernel + bias, rtol=1e-6
    )
    target = np.array([[1.0], [-1.0]], dtype=np.float32)
    error = table[ids].reshape(2, 12) @ kernel + bias - target  # d(mse)/d(pred) = 2 * error / 2
    row_grads = (error @ kernel.T).reshape(2, 4, 3)
    expected = table.copy()
    np.add.at(expected, ids, -0.1 * row_grads)  # repeated ids add up
    model.train_on_batch(ids, target)
    np.testing.assert_allclose(model.get_weights()[0], expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "bad, message",
    [(10, "id 10 at position \\(1, 2\\)"), (-1, "id -1 at position"), (2.5, "id 2.5 at position")],
)
def test_bad_ids_are_refused_naming_the_id_and_its_position(bad, message) -> None:
    model = _model()
    ids = np.zeros((3, 4), dtype=np.float32)
    ids[1, 2] = bad
    for call in (
        lambda: model.predict(ids, verbose=0),
        lambda: model.train_on_batch(ids, np.zeros((3, 1))),
        lambda: model.fit(ids, np.zeros((3, 1)), verbose=0),
    ):
        with pytest.raises(ValueError, match=message):
            call()


def test_keras_spellings_and_config_round_trip() -> None:
    with pytest.warns(DeprecationWarning, match="init"):
        legacy = Embedding(5, 2, init="zeros", input_length=3)
    model = Sequential([legacy, Flatten(), Dense(1)])
    assert model.layers[0].get_weights()[0].tolist() == [[0.0, 0.0]] * 5
    clone = keras.models.model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    ids = RNG.integers(0, 5, (4, 3))
    np.testing.assert_array_equal(clone.predict(ids, verbose=0), model.predict(ids, verbose=0))
    inputs = keras.Input(shape=(3,), dtype="int32")
    functional = keras.Model(inputs, Dense(2)(Flatten()(Embedding(5, 2)(inputs))))
    assert functional.get_config()["layers"][0]["config"]["dtype"] == "int32"
    assert functional.predict(ids, verbose=0).shape == (4, 2)


def test_word_embedding_tutorial_learns_its_labels() -> None:
    """The tutorials' first embedding model: 10 docs of 4 padded word ids, Embedding(50, 8), Flatten,
    Dense(1, sigmoid), adam, 50 epochs."""
    docs = RNG.integers(1, 50, (10, 4))
    labels = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    model = Sequential([Embedding(50, 8, input_length=4), Flatten(), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(docs, labels, epochs=50, verbose=0)
    _, accuracy = model.evaluate(docs, labels, verbose=0)
    assert accuracy == 1.0
