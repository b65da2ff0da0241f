"""The .keras archive and the `.weights.h5` object tree, written as Keras 3 writes them (layout in
../shared/KERAS_REFERENCE_LAYERS.md section 10.1) and read back with the optimizer's state; Keras 3's own
archives are read in test_keras_image_files.py."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from graphc.keras import backend
from graphc.keras.layers import Dense, Dropout
from graphc.keras.models import Sequential, load_model
from graphc.keras.optimizers import Adam
from graphc.keras.utils import set_random_seed


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 5)).astype(np.float32)
    return x, (x[:, :1] + x[:, 1:2] > 0).astype(np.float32)


def _trained(steps: int = 3, dropout: float = 0.1) -> Sequential:
    backend.clear_session()
    set_random_seed(6)
    model = Sequential([Dense(4, activation="relu", input_shape=(5,), name="hidden"), Dropout(dropout),
                        Dense(1, activation="sigmoid")], name="pima_like")
    model.compile(optimizer=Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    x, y = _data()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return model


def test_archive_layout_is_keras_3s(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    _trained().save(path)
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == ["metadata.json", "config.json", "model.weights.h5"]
        assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}
        metadata = json.loads(archive.read("metadata.json"))
        config = json.loads(archive.read("config.json"))
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
    assert set(metadata) == {"keras_version", "date_saved"} and metadata["keras_version"].startswith("3.")
    assert config["class_name"] == "Sequential" and config["build_config"] == {"input_shape": [None, 5]}
    compiled = config["compile_config"]
    assert compiled["optimizer"]["module"] == "keras.optimizers"
    assert compiled["optimizer"]["class_name"] == "Adam"
    assert compiled["loss"] == "binary_crossentropy" and compiled["metrics"] == ["accuracy"]
    with weights:
        assert weights["layers/dense/vars"].attrs["name"] == "hidden"  # keyed by class, named by layer
        assert weights["layers/dense/vars/0"].shape == (5, 4)
        assert weights["layers/dense_1/vars/1"].shape == (1,)
        assert len(weights["layers/dropout/vars"]) == 0
        variables = weights["optimizer/vars"]
        assert variables.attrs["name"] == "adam"
        assert variables["0"].dtype == np.int64 and variables["0"][()] == 3
        assert variables["1"][()] == pytest.approx(0.01)
        # per trainable variable: momentum, velocity (Keras 3's order)
        assert [variables[str(i)].shape for i in range(2, 10)] == [(5, 4), (5, 4), (4,), (4,), (4, 1), (4, 1),
                                                                   (1,), (1,)]
        assert weights["vars"].attrs["name"] == "pima_like"


def test_round_trip_resumes_training_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    original = _trained(dropout=0.0)
    original.save(path)
    loaded = load_model(path)
    x, y = _data()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), original.predict(x, verbose=0))
    assert loaded.optimizer.iterations == 3 and loaded.optimizer.learning_rate == pytest.approx(0.01)
    # Adam's moments came back: the next steps equal the original's
    original_next = _next_weights(original, x, y)
    loaded_next = _next_weights(loaded, x, y)
    for a, b in zip(original_next, loaded_next, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def _next_weights(model: Sequential, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    return model.get_weights()


def test_untrained_and_uncompiled_models(tmp_path: Path) -> None:
    backend.clear_session()
    model = Sequential([Dense(2, input_shape=(3,))])
    model.save(tmp_path / "plain.keras")
    with zipfile.ZipFile(tmp_path / "plain.keras") as archive:
        assert json.loads(archive.read("config.json"))["compile_config"] == {}
    assert not load_model(tmp_path / "plain.keras").compiled
    model.compile("adam", "mse")
    model.save(tmp_path / "compiled.keras")
    with zipfile.ZipFile(tmp_path / "compiled.keras") as archive:
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        assert len(weights["optimizer/vars"]) == 2  # iteration and learning rate before any step, as Keras
    loaded = load_model(tmp_path / "compiled.keras")
    assert loaded.compiled and loaded.optimizer.iterations == 0
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


def test_weights_h5_names_get_the_object_tree_other_names_the_keras_2_layout(tmp_path: Path) -> None:
    model = _trained(steps=1)
    model.save_weights(tmp_path / "w.weights.h5")
    model.save_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.weights.h5", "r") as f:
        assert "layers/dense/vars/0" in f and "layer_names" not in f.attrs
    with h5py.File(tmp_path / "w.h5", "r") as f:
        assert "layer_names" in f.attrs
    for name in ("w.weights.h5", "w.h5"):
        twin = Sequential([Dense(4, activation="relu", input_shape=(5,)), Dropout(0.1),
                           Dense(1, activation="sigmoid")])
        twin.load_weights(tmp_path / name)
        for a, b in zip(twin.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_mismatched_optimizer_slots_warn_and_keep_the_weights(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    model = _trained()
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(entries["config.json"])
    config["compile_config"]["optimizer"] = {"class_name": "RMSprop", "config": {"learning_rate": 0.01}}
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.warns(UserWarning, match="slots were not restored"):
        loaded = load_model(path)
    assert loaded.optimizer.iterations == 3
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


@pytest.mark.parametrize("damage", ["not_zip", "no_config", "bad_json", "truncated", "bad_weights"])
def test_damaged_archives_are_named(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "m.keras"
    _trained(steps=1).save(path)
    data = path.read_bytes()
    if damage == "not_zip":
        path.write_bytes(b"not a zip at all")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = {name: archive.read(name) for name in archive.namelist()}
        if damage == "no_config":
            del entries["config.json"]
        elif damage == "bad_json":
            entries["config.json"] = b"{not json"
        else:
            entries["model.weights.h5"] = b"\x89HDF garbage"
        with zipfile.ZipFile(path, "w") as archive:
            for name, value in entries.items():
                archive.writestr(name, value)
    with pytest.raises(ValueError, match="m.keras"):
        load_model(path)
