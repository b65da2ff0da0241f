"""Conv, pooling and BatchNormalization models written by real Keras 3 and tf_keras load and
predict what Keras predicted; their training steps give Keras 3's weights (keras_files/README.md)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from graphc import keras

FILES = Path(__file__).with_name("keras_files")
MODELS = ["conv_block", "conv_channels_first", "conv_misc", "conv1d_text", "bn_train"]


def _load(name: str, flavour: str, how: str) -> keras.Model:
    if how == "model.h5":
        return keras.models.load_model(FILES / f"{name}.{flavour}model.h5")
    if how == ".keras":
        return keras.models.load_model(FILES / f"{name}.k3.keras")
    model = keras.models.model_from_json((FILES / f"{name}.{flavour}.json").read_text())
    model.load_weights(FILES / (f"{name}.k2.h5" if flavour == "k2" else f"{name}.k3.weights.h5"))
    return model


@pytest.mark.parametrize("flavour, how", [("k2", "model.h5"), ("k2", "json+weights"), ("k3", "model.h5"),
                                          ("k3", "json+weights"), ("k3", ".keras")])
@pytest.mark.parametrize("name", MODELS)
def test_files_predict_what_keras_predicted(name: str, flavour: str, how: str) -> None:
    model = _load(name, flavour, how)
    x = np.load(FILES / f"{name}.x.npy")
    np.testing.assert_allclose(
        model.predict(x, verbose=0), np.load(FILES / f"{name}.{flavour}.pred.npy"), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("suffix", ["model.h5", ".keras"])
@pytest.mark.parametrize("name, steps", [("conv_block", 1), ("bn_train", 3)])
def test_training_steps_give_keras_3_weights_and_losses(name: str, steps: int, suffix: str) -> None:
    """Weights include the moving statistics, updated inside the compiled step (biased variance)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # Keras 3's saved learning-rate variable is understood
        model = keras.models.load_model(FILES / f"{name}.k3{suffix}")
        x, y = np.load(FILES / f"{name}.x.npy"), np.load(FILES / f"{name}.y.npy")
        for step in range(1, steps + 1):
            loss = model.train_on_batch(x, y)
            suffix = str(step) if steps > 1 else ""
            expected = np.load(FILES / f"{name}.k3.after_step{suffix}.npz")
            record = json.loads((FILES / f"{name}.k3.after_step{suffix}.json").read_text())
            assert loss == pytest.approx(record["loss"], rel=1e-6)
            for index, weight in enumerate(model.get_weights()):
                np.testing.assert_allclose(weight, expected[f"w{index}"], rtol=1e-5, atol=1e-6)
