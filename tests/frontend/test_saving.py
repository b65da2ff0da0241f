"""Keras HDF5 weight/model files and JSON configs: round trips, exact layout, legacy forms, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from graphc.frontend.saving.attributes import HDF5_OBJECT_HEADER_LIMIT, read_string_list, write_string_list
from graphc.keras import Input
from graphc.keras.layers import Activation, Dense, Dropout, Flatten, LeakyReLU
from graphc.keras.models import Model, Sequential, load_model, model_from_json

RNG = np.random.default_rng(3)
X = RNG.random((9, 4), dtype=np.float32)


def _mlp() -> Sequential:
    return Sequential([Dense(6, activation="relu", input_shape=(4,), name="hidden"),
                       Dropout(0.5, name="drop"), LeakyReLU(0.1, name="leaky"), Dense(3, name="out"),
                       Activation("softmax", name="act")])


def _fresh_weights(model: Sequential) -> None:
    model.set_weights([RNG.normal(size=w.shape).astype(np.float32) for w in model.weights])


def test_save_weights_layout_is_keras_2(tmp_path: Path) -> None:
    model = _mlp()
    path = tmp_path / "w.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        assert list(f.attrs["layer_names"]) == ["hidden", "drop", "leaky", "out", "act"]
        assert f.attrs["backend"] == "tensorflow" and f.attrs["keras_version"] == "2.21.0"
        assert h5py.check_string_dtype(f.attrs.get_id("layer_names").dtype) is not None
        assert list(f["hidden"].attrs["weight_names"]) == ["hidden/kernel:0", "hidden/bias:0"]
        np.testing.assert_array_equal(f["hidden/hidden/kernel:0"][()], model.layers[0].get_weights()[0])
        assert f["hidden/hidden/kernel:0"].dtype == np.float32 and f["out/out/bias:0"].shape == (3,)
        empty = f["drop"].attrs["weight_names"]
        assert empty.dtype == np.float64 and empty.shape == (0,)
        assert set(f) == {"hidden", "drop", "leaky", "out", "act", "top_level_model_weights"}


@pytest.mark.parametrize("filename", ["w.h5", "w.weights.h5"])
def test_weights_round_trip(tmp_path: Path, filename: str) -> None:
    model = _mlp()
    _fresh_weights(model)
    model.save_weights(tmp_path / filename)
    other = _mlp()
    other.load_weights(tmp_path / filename)
    np.testing.assert_array_equal(other.predict(X, verbose=0), model.predict(X, verbose=0))
    with h5py.File(tmp_path / filename, "r") as f:  # Keras 3 writes its object tree for .weights.h5 names
        assert ("layer_names" in f.attrs) == (filename == "w.h5")


def test_full_model_round_trip_with_training_config(tmp_path: Path) -> None:
    model = _mlp()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, len(X))]
    model.fit(X, y, epochs=2, batch_size=3, verbose=0)
    path = tmp_path / "m.h5"
    model.save(path)
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
        training = json.loads(f.attrs["training_config"])
        assert config["class_name"] == "Sequential"
        assert [entry["class_name"] for entry in config["config"]["layers"]] == [
            "InputLayer", "Dense", "Dropout", "LeakyReLU", "Dense", "Activation"]
        assert training["loss"] == "categorical_crossentropy" and training["metrics"] == ["accuracy"]
        assert training["optimizer_config"]["class_name"] == "Adam"
        assert list(f["model_weights"].attrs["layer_names"])[0] == "hidden"
        names = list(f["optimizer_weights"].attrs["weight_names"])
        assert names[0] == "adam/iterations" and len(names) == 1 + 2 * 4
        assert f["optimizer_weights/adam/iterations"][()] == 6
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert loaded.compiled and type(loaded.optimizer).__name__ == "Adam" and loaded.optimizer.iterations == 6
    assert loaded.loss == "categorical_crossentropy"
    loaded.fit(X, y, epochs=1, verbose=0)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_loaded_model_resumes_training_with_the_saved_optimizer_slots(tmp_path: Path, optimizer: str) -> None:
    model = Sequential([Dense(5, activation="tanh", input_shape=(4,)), Dense(3, activation="softmax")])
    model.compile(optimizer, "sparse_categorical_crossentropy")
    y = RNG.integers(0, 3, len(X)).astype(np.float32)
    model.fit(X, y, epochs=3, batch_size=4, verbose=0)
    model.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    for m in (model, loaded):
        m.train_on_batch(X, y)
    for after, expected in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(after, expected)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 10


def test_saved_optimizer_slot_of_the_wrong_shape_is_refused_by_name(tmp_path: Path) -> None:
    model = Sequential([Dense(5, activation="tanh", input_shape=(4,)), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    y = RNG.integers(0, 3, len(X)).astype(np.float32)
    model.fit(X, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        group = f["optimizer_weights"]
        slot = next(n for n in group.attrs["weight_names"] if not str(n).endswith("iterations"))
        del group[slot]
        group.create_dataset(slot, data=np.zeros((2, 2), np.float32))
    loaded = load_model(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"state 'optimizer/.*': expected shape .*got \(2, 2\)"):
        loaded.train_on_batch(X, y)


def test_json_round_trip_sequential_and_functional() -> None:
    model = _mlp()
    _fresh_weights(model)
    rebuilt = model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    assert [type(a).__name__ for a in rebuilt.layers] == [type(b).__name__ for b in model.layers]
    np.testing.assert_array_equal(rebuilt.predict(X, verbose=0), model.predict(X, verbose=0))
    inputs = Input(shape=(2, 2), name="image")
    outputs = Dense(3, activation="tanh", name="d")(Flatten(name="flat")(inputs))
    functional = Model(inputs, outputs, name="fn")
    config = json.loads(functional.to_json())
    assert config["class_name"] == "Functional" and config["config"]["output_layers"] == [["d", 0, 0]]
    again = model_from_json(json.dumps(config))
    again.set_weights(functional.get_weights())
    x = RNG.random((5, 2, 2), dtype=np.float32)
    np.testing.assert_array_equal(again.predict(x, verbose=0), functional.predict(x, verbose=0))


K224_JSON = json.dumps({"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [
    {"class_name": "Dense", "config": {
        "name": "dense_1", "trainable": True, "batch_input_shape": [None, 4], "dtype": "float32", "units": 5,
        "activation": "relu", "use_bias": True,
        "kernel_initializer": {"class_name": "VarianceScaling", "config": {
            "scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None}},
    {"class_name": "LeakyReLU", "config": {"name": "leaky_re_lu_1", "trainable": True, "alpha": 0.2}},
    {"class_name": "Dense", "config": {
        "name": "dense_2", "trainable": True, "units": 2, "activation": "sigmoid", "use_bias": True,
        "kernel_regularizer": {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.001}}}}]},
    "keras_version": "2.2.4", "backend": "tensorflow"})


def test_keras_224_json_loads() -> None:
    model = model_from_json(K224_JSON)
    assert model.name == "sequential_1" and model.input_shape == (None, 4)
    assert [layer.name for layer in model.layers] == ["dense_1", "leaky_re_lu_1", "dense_2"]
    assert model.layers[1].negative_slope == pytest.approx(0.2)
    kernel = model.layers[0].get_weights()[0]
    assert kernel.shape == (4, 5) and np.abs(kernel).max() <= np.sqrt(6 / 9)


def test_bare_list_and_tf_keras_configs_load() -> None:
    bare = {"class_name": "Sequential", "config": [
        {"class_name": "Dense", "config": {"name": "d", "units": 2, "batch_input_shape": [None, 3]}}]}
    assert model_from_json(json.dumps(bare)).output_shape == (None, 2)
    tfk = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {
            "batch_input_shape": [None, 8], "dtype": "float32", "sparse": False, "ragged": False,
            "name": "dense_input"}, "registered_name": None},
        {"module": "keras.layers", "class_name": "Dense", "config": {
            "name": "dense", "trainable": True, "dtype": "float32", "batch_input_shape": [None, 8],
            "units": 12, "activation": "relu",
            "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                   "config": {"seed": None}}},
         "registered_name": None, "build_config": {"input_shape": [None, 8]}}]},
        "keras_version": "2.21.0", "backend": "tensorflow"}
    model = model_from_json(json.dumps(tfk))
    assert model.input_shape == (None, 8) and model.layers[0].units == 12


@pytest.mark.parametrize("config, needle", [
    ({"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda",
                                                         "config": {"function": "x"}}]}},
     "calls a function named 'x'"),
    ({"class_name": "Pickled", "config": {}}, "'Pickled'"),
    ({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "config": {"units": 2, "kernel_constraint": {"class_name": "Bogus"}}}]}},
     "unknown constraint class 'Bogus'"),
    ({"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense",
                                                         "config": {"units": 2, "dtype": "float16"}}]}},
     "float16"),
])
def test_bad_configs_raise_naming_the_problem(config: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        model_from_json(json.dumps(config))
    with pytest.raises(ValueError, match="not valid JSON"):
        model_from_json("{not json")


def _write_k224_weights(group: h5py.Group, layers: list[tuple[str, list[tuple[str, np.ndarray]]]]) -> None:
    """Keras 2.2.4 / h5py 2 style: fixed-length byte-string attributes."""
    group.attrs["layer_names"] = np.array([name.encode() for name, _ in layers], dtype="S")
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = b"2.2.4"
    for name, weights in layers:
        g = group.create_group(name)
        g.attrs["weight_names"] = np.array([w.encode() for w, _ in weights], dtype="S")
        for weight_name, value in weights:
            g.create_dataset(weight_name, data=value)


def test_hand_written_keras_224_model_file_loads(tmp_path: Path) -> None:
    k1, b1 = RNG.normal(size=(4, 5)).astype(np.float32), RNG.normal(size=5).astype(np.float32)
    k2, b2 = RNG.normal(size=(5, 2)).astype(np.float32), RNG.normal(size=2).astype(np.float32)
    path = tmp_path / "k224.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(json.loads(K224_JSON)).encode()
        f.attrs["training_config"] = json.dumps({
            "optimizer_config": {"class_name": "Adam", "config": {"lr": 0.002, "beta_1": 0.9, "beta_2": 0.999,
                                                                  "decay": 0.0, "epsilon": 1e-07,
                                                                  "amsgrad": False}},
            "loss": "binary_crossentropy", "metrics": ["accuracy"], "sample_weight_mode": None,
            "loss_weights": None}).encode()
        _write_k224_weights(f.create_group("model_weights"), [
            ("dense_1", [("dense_1/kernel:0", k1), ("dense_1/bias:0", b1)]), ("leaky_re_lu_1", []),
            ("dense_2", [("dense_2/kernel:0", k2), ("dense_2/bias:0", b2)])])
    model = load_model(path)
    h = np.maximum(X @ k1 + b1, 0.0)  # relu, then LeakyReLU (the identity on its output)
    expected = 1 / (1 + np.exp(-(h @ k2 + b2)))
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert model.compiled and model.optimizer.learning_rate == pytest.approx(0.002)
    fresh = model_from_json(K224_JSON)
    fresh.load_weights(path)  # a full-model file's model_weights group
    np.testing.assert_array_equal(fresh.get_weights()[0], k1)


def test_chunked_attributes_are_written_and_read(tmp_path: Path) -> None:
    names = [f"layer_with_a_rather_long_name_{i:05d}" for i in range(2000)]
    with h5py.File(tmp_path / "a.h5", "w") as f:
        write_string_list(f.attrs, "layer_names", names)
        assert "layer_names" not in f.attrs and "layer_names0" in f.attrs and "layer_names1" in f.attrs
        assert all(f.attrs.get_id(k).get_storage_size() < HDF5_OBJECT_HEADER_LIMIT for k in f.attrs)
        assert read_string_list(f.attrs, "layer_names") == names
        f.attrs["fixed0"] = np.array([b"a", b"bc"], dtype="S")
        f.attrs["fixed1"] = np.array([b"d"], dtype="S")
        assert read_string_list(f.attrs, "fixed") == ["a", "bc", "d"]


def test_corrupt_truncated_and_mismatched_files_raise(tmp_path: Path) -> None:
    model = _mlp()
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"this is not hdf5" * 100)
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        model.load_weights(garbage)
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        load_model(garbage)
    model.save(tmp_path / "m.h5")
    data = (tmp_path / "m.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.h5"):
        load_model(tmp_path / "cut.h5")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.h5")
    with pytest.raises(ValueError, match="not a full-model file"):
        model.save_weights(tmp_path / "w.h5")
        load_model(tmp_path / "w.h5")
    wider = Sequential([Dense(7, input_shape=(4,), name="hidden"), Dense(3, name="out")])
    with pytest.raises(ValueError, match=r"'hidden/kernel'.*\(4, 7\).*\(4, 6\)"):
        wider.load_weights(tmp_path / "w.h5")
    shorter = Sequential([Dense(3, input_shape=(4,))])
    with pytest.raises(ValueError, match="weights for 2 layers"):
        shorter.load_weights(tmp_path / "w.h5")
    before = wider.get_weights()
    with pytest.raises(ValueError):
        wider.load_weights(tmp_path / "w.h5")
    assert all(np.array_equal(a, b) for a, b in zip(before, wider.get_weights(), strict=True))
    with h5py.File(tmp_path / "w.h5", "a") as f:
        del f["out/out/bias:0"]
    with pytest.raises(ValueError, match="'out/bias:0', which is not in the file"):
        _mlp().load_weights(tmp_path / "w.h5")


def test_keras_3_object_tree_weights_file_loads(tmp_path: Path) -> None:
    model = _mlp()
    _fresh_weights(model)
    path = tmp_path / "k3.weights.h5"
    with h5py.File(path, "w") as f:
        for key, layer in [("dense", model.layers[0]), ("dropout", None), ("leaky_re_lu", None),
                           ("dense_1", model.layers[3]), ("activation", None)]:
            variables = f.create_group(f"layers/{key}/vars")
            for index, value in enumerate(layer.get_weights() if layer else []):
                variables.create_dataset(str(index), data=value)
        f.create_group("vars")
    other = _mlp()
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(X, verbose=0), model.predict(X, verbose=0))
