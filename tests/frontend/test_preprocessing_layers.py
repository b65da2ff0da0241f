"""Rescaling and Normalization inside the model: Keras 3's formulas against numpy, adapt from
arrays and batches, given mean and variance, invert, configs and saved files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphc.keras import Input, Model, Sequential, backend
from graphc.keras import layers as L
from graphc.keras.models import load_model, model_from_json

RNG = np.random.default_rng(17)
DATA = (RNG.normal(size=(64, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0]).astype(np.float32)


def test_normalization_adapts_to_the_data_and_trains_with_it(tmp_path: Path) -> None:
    backend.clear_session()
    normalizer = L.Normalization(axis=-1)
    normalizer.adapt(DATA)
    np.testing.assert_allclose(normalizer.get_weights()[0], DATA.astype(np.float64).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(normalizer.get_weights()[1], DATA.astype(np.float64).var(axis=0), rtol=1e-5)
    model = Sequential([Input((3,)), normalizer, L.Dense(1)])
    kernel, bias = model.layers[1].get_weights()
    scaled = (DATA - DATA.mean(axis=0)) / np.maximum(DATA.std(axis=0), 1e-7)
    np.testing.assert_allclose(model.predict(DATA, verbose=0), scaled @ kernel + bias, rtol=1e-4, atol=1e-5)
    model.compile("adam", "mse")
    model.fit(DATA, DATA[:, :1], epochs=1, verbose=0)
    np.testing.assert_allclose(normalizer.get_weights()[0], DATA.astype(np.float64).mean(axis=0), rtol=1e-6)
    model.save(tmp_path / "normalized.keras")
    np.testing.assert_allclose(load_model(tmp_path / "normalized.keras").predict(DATA, verbose=0),
                               model.predict(DATA, verbose=0), rtol=1e-6)


def test_normalization_of_images_per_channel_from_batches_and_given_statistics() -> None:
    backend.clear_session()
    images = RNG.uniform(0, 255, size=(10, 4, 4, 3)).astype(np.float32)
    per_channel = L.Normalization()
    per_channel.adapt(iter([images[:5], images[5:]]))
    mean, variance = images.mean(axis=(0, 1, 2)), images.var(axis=(0, 1, 2))
    np.testing.assert_allclose(per_channel.get_weights()[0], mean, rtol=1e-5)
    inputs = Input((4, 4, 3))
    model = Model(inputs, per_channel(inputs))
    np.testing.assert_allclose(model.predict(images, verbose=0), (images - mean) / np.sqrt(variance),
                               rtol=1e-4, atol=1e-5)
    given = Sequential([Input((3,)), L.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 0.0])])
    np.testing.assert_allclose(given.predict(DATA, verbose=0),
                               (DATA - [1, 2, 3]) / np.maximum(np.sqrt([4.0, 1.0, 0.0]), 1e-7), rtol=1e-5)
    again = model_from_json(given.to_json())
    np.testing.assert_allclose(again.predict(DATA, verbose=0), given.predict(DATA, verbose=0), rtol=1e-6)
    inverse = Sequential([Input((3,)), L.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 1.0],
                                                        invert=True)])
    np.testing.assert_allclose(inverse.predict(DATA, verbose=0), DATA * [2, 1, 1] + [1, 2, 3], rtol=1e-5)


def test_rescaling_and_errors() -> None:
    backend.clear_session()
    images = RNG.uniform(0, 255, size=(3, 2, 2, 1)).astype(np.float32)
    model = Sequential([Input((2, 2, 1)), L.Rescaling(1.0 / 127.5, offset=-1.0)])
    np.testing.assert_allclose(model.predict(images, verbose=0), images / 127.5 - 1, rtol=1e-6, atol=1e-6)
    assert model_from_json(model.to_json()).layers[0].get_config()["offset"] == -1.0
    with pytest.raises(ValueError, match="give both `mean` and `variance`"):
        L.Normalization(mean=[1.0])
    with pytest.raises(ValueError, match="`scale` must be a number"):
        L.Rescaling("1/255")
    with pytest.raises(ValueError, match="adapt does not apply"):
        L.Normalization(mean=[0.0], variance=[1.0]).adapt(DATA)
