"""TimeDistributed(model) through every file form: a Sequential (Conv2D, BatchNormalization, Flatten,
Dense) and a functional model (Dense, Dropout, Dense) run per frame survive configs, JSON, YAML, .h5
and .keras models and .h5 weights with bit-identical predictions and training steps. Oracles: the
model before saving, and Keras's layouts (../shared/KERAS_REFERENCE.md §7, §10)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from graphc.frontend.saving import model_from_config
from graphc.keras import Input, Model, Sequential, backend
from graphc.keras import layers as L
from graphc.keras.models import load_model, model_from_json, model_from_yaml
from graphc.keras.optimizers import Adam
from graphc.keras.utils import set_random_seed

RNG = np.random.default_rng(31)
N, T, FRAME, FEATURES = 4, 3, (6, 6, 2), 5


def _conv_frames() -> Model:
    inner = Sequential([Input(FRAME), L.Conv2D(3, 3, activation="tanh"), L.BatchNormalization(),
                        L.Flatten(), L.Dense(2)], name="frame_net")
    return Sequential([Input((T, *FRAME)), L.TimeDistributed(inner, name="per_frame")], name="clips")


def _dense_frames() -> Model:
    x = Input((FEATURES,))
    inner = Model(x, L.Dense(2)(L.Dropout(0.4)(L.Dense(4, activation="relu")(x))), name="step_net")
    sequence = Input((T, FEATURES))
    out = L.Dense(1)(L.TimeDistributed(inner, name="per_step")(sequence))
    return Model(sequence, out, name="steps")


BUILDERS = {"sequential": (_conv_frames, (T, *FRAME), (T, 2)),
            "functional": (_dense_frames, (T, FEATURES), (T, 1))}


def _data(kind: str) -> tuple[np.ndarray, np.ndarray]:
    _, x_shape, y_shape = BUILDERS[kind]
    return (RNG.normal(size=(N, *x_shape)).astype(np.float32),
            RNG.normal(size=(N, *y_shape)).astype(np.float32))


def _trained(kind: str) -> tuple[Model, np.ndarray, np.ndarray]:
    """A compiled model after one Adam step, so it has moments and moved BatchNormalization statistics."""
    backend.clear_session()
    model = BUILDERS[kind][0]()
    x, y = _data(kind)
    model.compile(Adam(0.01), "mse")
    model.train_on_batch(x, y)
    return model, x, y


def _by_config(model: Model, _: Path) -> Model:
    return model_from_config({"class_name": type(model).__name__.replace("Model", "Functional"),
                              "config": model.get_config()})


RELOADS: dict[str, Callable[[Model, Path], Model]] = {
    "config": _by_config,
    "json": lambda model, _: model_from_json(model.to_json()),
    "yaml": lambda model, _: model_from_yaml(model.to_yaml()),
}


def _same_weights(got: Model, want: Model) -> None:
    assert [w.path for w in got.weights] == [w.path for w in want.weights]
    for a, b in zip(got.get_weights(), want.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def _same_training_step(got: Model, want: Model, x: np.ndarray, y: np.ndarray) -> None:
    np.testing.assert_array_equal(got.train_on_batch(x, y), want.train_on_batch(x, y))
    _same_weights(got, want)


@pytest.mark.parametrize("form", sorted(RELOADS))
@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_architecture_forms_rebuild_the_wrapped_model(kind: str, form: str, tmp_path: Path) -> None:
    model, x, y = _trained(kind)
    again = RELOADS[form](model, tmp_path)
    assert json.loads(again.to_json()) == json.loads(model.to_json())
    again.set_weights(model.get_weights())
    _same_weights(again, model)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    copy = RELOADS[form](model, tmp_path)  # a training step from the same start: new optimizers both
    copy.set_weights(model.get_weights())
    losses = []
    for each in (again, copy):
        set_random_seed(5)  # the same dropout draws: the step's seed comes from the process's generator
        each.compile(Adam(0.01), "mse")
        losses.append(each.train_on_batch(x, y))
    np.testing.assert_array_equal(losses[0], losses[1])
    _same_weights(copy, again)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_model_files_keep_weights_and_optimizer_state(kind: str, suffix: str, tmp_path: Path) -> None:
    model, x, y = _trained(kind)
    model.save(tmp_path / f"m{suffix}")
    again = load_model(tmp_path / f"m{suffix}")
    _same_weights(again, model)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    if suffix == ".h5" or kind == "sequential":  # .h5 files keep graphc's dropout counter, .keras not
        _same_training_step(again, model, x, y)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_h5_weights_load_into_a_model_read_from_json(kind: str, tmp_path: Path) -> None:
    model, x, _ = _trained(kind)
    model.save_weights(tmp_path / "w.h5")
    again = model_from_json(model.to_json())
    again.load_weights(tmp_path / "w.h5")
    _same_weights(again, model)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_the_layer_survives_get_config_and_from_config() -> None:
    model, x, _ = _trained("sequential")
    wrapper = model.get_layer("per_frame")
    copy = L.TimeDistributed.from_config(wrapper.get_config())
    assert type(copy.layer) is Sequential and copy.layer.name == "frame_net"
    again = Sequential([Input((T, *FRAME)), copy])
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_files_follow_keras_layouts(tmp_path: Path) -> None:
    """.keras: Keras 3's object tree (the wrapper's `layer`, the model's own vars, its layers by class);
    .h5: tf.keras's group per top-level layer, trainable weights first (its `_legacy_weights`)."""
    model, _, _ = _trained("sequential")
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive, \
            h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as f:
        nested = "layers/time_distributed/layer"
        assert f[f"{nested}/vars"].attrs["name"] == "frame_net"
        assert sorted(f[f"{nested}/layers"]) == ["batch_normalization", "conv2d", "dense", "flatten"]
        assert len(f[f"{nested}/layers/batch_normalization/vars"]) == 4
    with h5py.File(tmp_path / "m.h5") as f:
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in f["model_weights/per_frame"].attrs["weight_names"]]
    assert names == [f"{p}:0" for p in ("conv2d/kernel", "conv2d/bias", "batch_normalization/gamma",
                                         "batch_normalization/beta", "dense/kernel", "dense/bias",
                                         "batch_normalization/moving_mean",
                                         "batch_normalization/moving_variance")]


def _keras2_conv(name: str, shape: list | None = None) -> dict:
    config = {"name": name, "trainable": True, "dtype": "float32", "filters": 2, "kernel_size": [3, 3],
              "strides": [1, 1], "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1],
              "activation": "relu", "use_bias": True,
              "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
              "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
              "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
              "bias_constraint": None}
    if shape is not None:
        config["batch_input_shape"] = shape
    return {"class_name": "Conv2D", "config": config}


def _keras2_model(inner: dict) -> dict:
    wrapper = {"name": "time_distributed", "trainable": True, "dtype": "float32",
               "batch_input_shape": [None, T, *FRAME], "layer": inner}
    flatten = {"name": "time_distributed_1", "trainable": True, "dtype": "float32",
               "layer": {"class_name": "Flatten", "config": {"name": "flatten"}}}
    layers = [{"class_name": "TimeDistributed", "config": wrapper},
              {"class_name": "TimeDistributed", "config": flatten}]
    return {"class_name": "Sequential", "config": {"name": "clips", "layers": layers},
            "keras_version": "2.15.0", "backend": "tensorflow"}


@pytest.mark.parametrize("built", ["input_shape", "build_input_shape", "by_the_wrapper"])
def test_keras_2_configs_load(built: str, tmp_path: Path) -> None:
    """tf.keras writes {"class_name", "config"} without module; a wrapped Sequential may carry its input on
    the first layer, as build_input_shape, or not at all (the wrapper built it on the frame shape)."""
    backend.clear_session()
    body: dict = {"name": "frame_net", "layers": [
        _keras2_conv("conv2d", [None, *FRAME] if built == "input_shape" else None)]}
    if built == "build_input_shape":
        body["build_input_shape"] = [None, *FRAME]
    model = model_from_json(json.dumps(_keras2_model({"class_name": "Sequential", "config": body})))
    assert model.output_shape == (None, T, 4 * 4 * 2)
    assert [w.path for w in model.weights] == ["conv2d/kernel", "conv2d/bias"]
    x = RNG.normal(size=(2, T, *FRAME)).astype(np.float32)
    kernel, bias = model.get_weights()
    plain = Sequential([Input(FRAME), L.Conv2D(2, 3, activation="relu"), L.Flatten()])
    plain.set_weights([kernel, bias])
    want = plain.predict(x.reshape(-1, *FRAME), verbose=0).reshape(2, T, -1)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "m.h5")
    np.testing.assert_array_equal(load_model(tmp_path / "m.h5").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_a_keras_2_functional_inner_model_loads() -> None:
    backend.clear_session()
    inner = {"class_name": "Functional", "config": {
        "name": "frame_net",
        "layers": [{"class_name": "InputLayer", "name": "frame",
                    "config": {"batch_input_shape": [None, *FRAME], "dtype": "float32", "name": "frame"},
                    "inbound_nodes": []},
                   {**_keras2_conv("conv2d"), "name": "conv2d", "inbound_nodes": [[["frame", 0, 0, {}]]]}],
        "input_layers": [["frame", 0, 0]], "output_layers": [["conv2d", 0, 0]]}}
    model = model_from_json(json.dumps(_keras2_model(inner)))
    assert model.output_shape == (None, T, 4 * 4 * 2)
    assert type(model.layers[0].layer) is Model


def test_inner_names_that_clash_with_outer_ones_move_under_the_wrapper(tmp_path: Path) -> None:
    """Keras does not make variable paths unique; graphc keys weights by path, so a wrapped model's
    `dense_1` next to the model's own `dense_1` moves to `per_step/dense_1/...`, the same on every load."""
    backend.clear_session()
    config = json.loads(_dense_frames().to_json())
    per_step, dense = config["config"]["layers"][1], config["config"]["layers"][2]
    name = per_step["config"]["layer"]["config"]["layers"][1]["config"]["name"]
    dense["config"]["name"] = dense["name"] = name
    config["config"]["output_layers"] = [[dense["name"], 0, 0]]
    model = model_from_json(json.dumps(config))
    paths = [w.path for w in model.weights]
    assert len(set(paths)) == len(paths) and {f"per_step/{name}/kernel", f"{name}/kernel"} <= set(paths)
    x, y = _data("functional")
    model.compile(Adam(0.01), "mse")
    model.train_on_batch(x, y)
    model.save(tmp_path / "m.h5")
    again = load_model(tmp_path / "m.h5")
    _same_weights(again, model)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_files_are_data_and_unknown_classes_are_named() -> None:
    backend.clear_session()
    config = json.loads(_conv_frames().to_json())
    inner = config["config"]["layers"][1]["config"]["layer"]
    inner["config"]["layers"][1]["class_name"] = "EvilConv"
    inner["config"]["layers"][2]["module"] = "os"
    with pytest.raises(ValueError, match=r"TimeDistributed 'per_frame'.*Sequential model.*'EvilConv'"):
        model_from_json(json.dumps(config))
    inner["config"]["layers"][1]["class_name"] = "Conv2D"
    inner["class_name"] = "MyModel"
    with pytest.raises(ValueError, match=r"TimeDistributed 'per_frame'.*'MyModel'"):
        model_from_json(json.dumps(config))
    inner["class_name"] = "Sequential"
    inner["config"]["layers"][2]["config"]["dtype"] = "float64"
    with pytest.raises(ValueError, match=r"TimeDistributed 'per_frame'.*float64"):
        model_from_json(json.dumps(config))
