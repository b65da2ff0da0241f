"""File -> model: every format the commands accept gives the same architecture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphc import keras
from graphc.build import load_model, resolve_model


def _model() -> keras.Sequential:
    model = keras.Sequential([keras.layers.Dense(3, activation="relu", input_shape=(4,)),
                              keras.layers.Dense(2)], name="small")
    return model


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_architecture_files_load_with_fresh_weights(tmp_path: Path, suffix: str) -> None:
    model = _model()
    path = tmp_path / f"model{suffix}"
    path.write_text(model.to_json() if suffix == ".json" else model.to_yaml())
    loaded = resolve_model(str(path))
    assert [type(layer).__name__ for layer in loaded.layers] == ["Dense", "Dense"]
    assert [w.shape for w in loaded.get_weights()] == [w.shape for w in model.get_weights()]


def test_saved_model_loads_with_its_weights(tmp_path: Path) -> None:
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    path = tmp_path / "model.h5"
    model.save(path)
    loaded = load_model(path)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_unknown_suffix_and_function_on_data_file_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "model.txt"
    other.write_text("x")
    with pytest.raises(ValueError, match="neither a saved model"):
        load_model(other)
    arch = tmp_path / "model.json"
    arch.write_text(_model().to_json())
    with pytest.raises(ValueError, match="no function 'build'"):
        load_model(arch, "build")
    with pytest.raises(TypeError, match="expected a Model or a file path"):
        resolve_model(3)
