"""Keras habits around models: build(input_shape), calling a model on data, variables, 1-D inputs."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.keras.layers import Dense
from graphc.keras.models import Sequential


def test_build_then_inspect_weights() -> None:
    model = Sequential([Dense(4, activation="relu"), Dense(1)])
    model.build(input_shape=[None, 3])
    assert model.built and model.layers[0].kernel.numpy().shape == (3, 4)
    assert model.layers[1].bias.shape == (1,)
    assert len(model.trainable_variables) == len(model.variables) == 4 and model.non_trainable_variables == []
    with pytest.raises(ValueError, match="build"):
        model.build(input_shape=(None, 0))


def test_calling_a_model_on_data_predicts() -> None:
    model = Sequential([Dense(2, input_shape=(3,))])
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    out = model(x)
    np.testing.assert_array_equal(out.numpy(), model.predict(x, verbose=0))
    np.testing.assert_array_equal(model(x, training=True), out)  # no dropout or BN: the same numbers


def test_a_one_dimensional_x_for_a_one_feature_input() -> None:
    model = Sequential([Dense(1, input_shape=(1,))])
    model.compile("sgd", "mse")
    x = np.arange(8, dtype=np.float32)
    model.fit(x, 2 * x, epochs=2, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x[:, None], verbose=0))
    assert np.isfinite(model.evaluate(x, 2 * x, verbose=0))
    wide = Sequential([Dense(1, input_shape=(2,))])
    with pytest.raises(ValueError, match="incompatible"):
        wide.predict(x, verbose=0)
