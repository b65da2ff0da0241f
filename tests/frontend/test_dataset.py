"""graphc.data.Dataset: tf.data's pipeline steps, and fit/evaluate/predict reading a Dataset."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.data import Dataset
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential

RNG = np.random.default_rng(12)
X = RNG.normal(size=(30, 4)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.float32)


def test_pipeline_steps() -> None:
    base = Dataset.from_tensor_slices((X, Y))
    assert len(base) == 30 and len(base.batch(8)) == 4 and len(base.batch(8, drop_remainder=True)) == 3
    sizes = [len(xb) for xb, _ in base.batch(8)]
    assert sizes == [8, 8, 8, 6]
    doubled = base.map(lambda x, y: (x * 2, y))
    np.testing.assert_array_equal(next(iter(doubled))[0], X[0] * 2)
    assert len(base.repeat(3)) == 90 and base.repeat().cardinality() == -1
    assert len(base.skip(25)) == 5 and [float(y) for _, y in base.take(2)] == list(Y[:2])
    shuffled = base.shuffle(10, seed=1)
    first, second = ([float(x[0]) for x, _ in shuffled] for _ in range(2))
    assert sorted(first) == sorted(X[:, 0].tolist()) and first != second  # reshuffled each pass
    again = [float(x[0]) for x, _ in base.shuffle(10, seed=1)]
    assert again == first


def test_fit_evaluate_and_predict_read_datasets() -> None:
    def model() -> Sequential:
        m = Sequential([Dense(3, activation="relu", input_shape=(4,)), Dense(1, activation="sigmoid")])
        m.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
        return m

    arrays, piped = model(), model()
    piped.set_weights(arrays.get_weights())
    arrays.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    history = piped.fit(Dataset.from_tensor_slices((X, Y)).batch(8).prefetch(2), epochs=2, verbose=0)
    assert history.params["steps"] == 4
    for a, b in zip(arrays.get_weights(), piped.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        piped.evaluate(Dataset.from_tensor_slices((X, Y)).batch(7), verbose=0),
        arrays.evaluate(X, Y, verbose=0),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(
        piped.predict(Dataset.from_tensor_slices(X).batch(16), verbose=0), arrays.predict(X, verbose=0)
    )
    endless = Dataset.from_tensor_slices((X, Y)).batch(10).repeat()
    assert len(piped.fit(endless, steps_per_epoch=2, epochs=3, verbose=0).history["loss"]) == 3
    with pytest.raises(ValueError, match="first axis"):
        Dataset.from_tensor_slices((X, Y[:5]))
