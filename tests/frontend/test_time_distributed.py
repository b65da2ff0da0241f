"""TimeDistributed around any layer (a scan over time whose body is the layer's call on one frame) and
around a model. Oracles: the same layers in a plain model run on the frames folded into the batch
(x.reshape(N*T, ...)), numpy for BatchNormalization's per-step statistics, and Keras's configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from graphc.frontend import losses
from graphc.frontend.programs import LossSpec, gradient_graph, predict_graph
from graphc.keras import Input, Sequential, backend
from graphc.keras import layers as L
from graphc.keras.models import load_model, model_from_json
from graphc.keras.optimizers import SGD
from tests.frontend.fit_loop import assert_fit_takes_the_loops_steps

RNG = np.random.default_rng(13)
N, T, FRAME = 3, 4, (6, 6, 2)
X = RNG.normal(size=(N, T, *FRAME)).astype(np.float32)
FILES = Path(__file__).with_name("keras_files")


def _frames(model: Sequential, x: np.ndarray) -> np.ndarray:
    """`model` run on every frame of x, as one batch of N*T frames, back in (N, T, ...)."""
    out = model.predict(x.reshape(-1, *x.shape[2:]), verbose=0)
    return out.reshape(x.shape[0], x.shape[1], *out.shape[1:])


def _distributed(*layers: L.Layer) -> Sequential:
    return Sequential([Input((T, *FRAME)), *(L.TimeDistributed(layer) for layer in layers)])


def test_conv_pool_and_flatten_act_on_each_frame_and_so_does_a_model() -> None:
    backend.clear_session()
    plain = Sequential([Input(FRAME), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(), L.Flatten()])
    model = _distributed(L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(), L.Flatten())
    model.set_weights(plain.get_weights())
    assert model.output_shape == (None, T, 2 * 2 * 4)
    assert [w.path for w in model.weights] == ["time_distributed/conv2d_1/kernel",
                                               "time_distributed/conv2d_1/bias"]
    want = _frames(plain, X)
    np.testing.assert_allclose(model.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    wrapped = Sequential([Input((T, *FRAME)), L.TimeDistributed(plain)])  # Keras's TimeDistributed(model)
    assert wrapped.weights == plain.weights
    np.testing.assert_allclose(wrapped.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_a_training_step_is_the_step_on_frames_folded_into_the_batch() -> None:
    """The mean loss over (N, T) is the mean over the N*T frames, so one SGD step gives the same weights."""
    backend.clear_session()
    plain = Sequential([Input(FRAME), L.Conv2D(3, 3, activation="tanh"), L.Flatten(), L.Dense(2)])
    model = _distributed(L.Conv2D(3, 3, activation="tanh"), L.Flatten(), L.Dense(2))
    model.set_weights(plain.get_weights())
    y = RNG.normal(size=(N, T, 2)).astype(np.float32)
    for each in (model, plain):
        each.compile(SGD(0.5), "mse")
    loss = model.train_on_batch(X, y)
    np.testing.assert_allclose(loss, plain.train_on_batch(X.reshape(N * T, *FRAME), y.reshape(N * T, 2)),
                               rtol=1e-5)
    for got, want in zip(model.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


FOLDED = {
    "conv1d_pools": ((8, 3), lambda: [L.Conv1D(4, 3, padding="same", activation="relu"), L.MaxPooling1D(),
                                      L.AveragePooling1D(2, padding="same"), L.GlobalAveragePooling1D()]),
    "grouped_strided": ((7, 6, 4), lambda: [L.Conv2D(6, 3, strides=2, padding="same", groups=2),
                                            L.AveragePooling2D(pool_size=(2, 1)), L.GlobalMaxPooling2D()]),
    "channels_first": ((2, 6, 5), lambda: [L.Conv2D(3, (2, 3), data_format="channels_first"),
                                           L.Flatten(data_format="channels_first")]),
}


@pytest.mark.parametrize("case", sorted(FOLDED))
def test_per_sample_layers_run_once_on_the_steps_folded_into_the_batch(case) -> None:
    """Convolutions, pools and Flatten see the N*T frames as one batch (k * N rows): no loop, and the
    same values as the plain layers on the frames, forward and through a training step."""
    frame, layers = FOLDED[case]
    backend.clear_session()
    plain = Sequential([Input(frame), *layers()])
    model = Sequential([Input((T, *frame)), *(L.TimeDistributed(layer) for layer in layers())])
    model.set_weights(plain.get_weights())
    assert not any(node.op == "scan" for node in predict_graph(model).nodes)
    x = RNG.normal(size=(N, T, *frame)).astype(np.float32)
    want = _frames(plain, x)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    y = RNG.normal(size=want.shape).astype(np.float32)
    for each in (model, plain):
        each.compile(SGD(0.3), "mse")
    loss = model.train_on_batch(x, y)
    folded = plain.train_on_batch(x.reshape(N * T, *frame), y.reshape(N * T, *want.shape[2:]))
    np.testing.assert_allclose(loss, folded, rtol=1e-5)
    for got, expected in zip(model.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_dense_on_frames_of_rank_four_needs_no_loop() -> None:
    backend.clear_session()
    model = _distributed(L.Dense(3))
    kernel, bias = model.get_weights()
    assert model.output_shape == (None, T, 6, 6, 3)
    assert not any(node.op == "scan" for node in predict_graph(model).nodes)
    got = np.asarray(model(X))
    np.testing.assert_allclose(got, X @ kernel + bias, rtol=1e-5, atol=1e-5)


def _node_counts(steps: int) -> tuple[int, int]:
    backend.clear_session()
    model = Sequential([Input((steps, *FRAME)), L.TimeDistributed(L.Conv2D(2, 3)),
                        L.TimeDistributed(L.BatchNormalization()), L.TimeDistributed(L.Flatten())])
    spec = LossSpec(losses.get("mse"), [], (None, steps, 32))
    return len(predict_graph(model).nodes), len(gradient_graph(model, spec).nodes)


def test_the_code_does_not_grow_with_the_number_of_steps() -> None:
    assert _node_counts(2) == _node_counts(20)


def test_batch_normalization_normalizes_each_step_and_updates_its_statistics_step_by_step() -> None:
    """Keras calls the layer once per step in training: each step's batch statistics, and moving
    statistics updated T times in order."""
    backend.clear_session()
    norm = L.BatchNormalization(momentum=0.5)
    model = Sequential([Input((T, *FRAME)), L.TimeDistributed(norm)])
    got = np.asarray(model(X, training=True))
    mean, variance, want = np.zeros(2), np.ones(2), []
    for t in range(T):
        frame = X[:, t].astype(np.float64)
        m, v = frame.mean((0, 1, 2)), frame.var((0, 1, 2))
        want.append((frame - m) / np.sqrt(v + 1e-3))
        mean, variance = mean * 0.5 + m * 0.5, variance * 0.5 + v * 0.5
    np.testing.assert_allclose(got, np.stack(want, 1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(norm.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(norm.moving_variance.numpy(), variance, rtol=1e-5, atol=1e-6)


def test_spatial_dropout_draws_a_mask_per_step() -> None:
    """Keras calls the layer once per step, each call drawing its own (N, 1, 1, C) mask."""
    backend.clear_session()
    model = Sequential([Input((T, 2, 2, 50)), L.TimeDistributed(L.SpatialDropout2D(0.5))])
    ones = np.ones((20, T, 2, 2, 50), dtype=np.float32)
    out = np.asarray(model(ones, training=True))
    np.testing.assert_array_equal(np.unique(out), [0.0, 2.0])
    np.testing.assert_array_equal(out[:, :, 0, 0], out[:, :, 1, 1])  # one draw per map
    assert 0.4 < (out[:, 0] == out[:, 1]).mean() < 0.6  # steps draw independently
    assert 0.45 < (out == 0).mean() < 0.55
    np.testing.assert_array_equal(model.predict(ones, verbose=0), ones)


def _keras_entry(file: str, class_name: str) -> dict:
    """The first `class_name` layer entry of a config Keras wrote (keras_files/README.md)."""
    layers = json.loads((FILES / file).read_text())["config"]["layers"]
    return next(entry for entry in layers if entry["class_name"] == class_name)


def test_keras_3_and_keras_2_configs_load(tmp_path: Path) -> None:
    backend.clear_session()
    conv3, norm3 = _keras_entry("conv_block.k3.json", "Conv2D"), _keras_entry("bn_train.k3.json",
                                                                               "BatchNormalization")
    policy = conv3["config"]["dtype"]
    wrap3 = [{"module": "keras.layers", "class_name": "TimeDistributed", "registered_name": None,
              "config": {"name": f"time_distributed_{i}", "trainable": True, "dtype": policy, "layer": inner}}
             for i, inner in enumerate((conv3, norm3))]
    keras3 = {"module": "keras", "class_name": "Sequential", "config": {"name": "frames", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
         "config": {"batch_shape": [None, T, *FRAME[:2], 3], "dtype": "float32", "name": "input_layer"}},
        *wrap3]}}
    model = model_from_json(json.dumps(keras3))
    assert [w.path for w in model.weights][:2] == ["time_distributed_0/conv2d/kernel",
                                                   "time_distributed_0/conv2d/bias"]
    assert model.output_shape == (None, T, *FRAME[:2], 4)  # conv_block's Conv2D(4, 3, same)

    conv2 = _keras_entry("conv_block.k2.json", "Conv2D")
    inner = {"class_name": "Conv2D",
             "config": {k: v for k, v in conv2["config"].items() if k != "batch_input_shape"}}
    wrapper = {"name": "time_distributed", "trainable": True, "dtype": "float32",
               "batch_input_shape": [None, T, 6, 6, 3], "layer": inner}
    keras2 = {"class_name": "Sequential",
              "config": {"name": "frames2", "layers": [{"class_name": "TimeDistributed", "config": wrapper}]}}
    old = model_from_json(json.dumps(keras2))
    assert [w.path for w in old.weights] == ["time_distributed/conv2d/kernel", "time_distributed/conv2d/bias"]
    x = RNG.normal(size=(2, T, 6, 6, 3)).astype(np.float32)
    want = old.predict(x, verbose=0)
    plain = Sequential([Input((6, 6, 3)), L.Conv2D(4, 3, padding="same", activation="relu")])
    plain.set_weights(old.get_weights())
    np.testing.assert_allclose(want, _frames(plain, x), rtol=1e-5, atol=1e-6)

    old.save(tmp_path / "frames.keras")
    again = load_model(tmp_path / "frames.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), want)
    assert json.loads(again.to_json()) == json.loads(old.to_json())


def test_what_cannot_be_distributed_says_so() -> None:
    backend.clear_session()
    with pytest.raises(NotImplementedError, match="stateful"):
        L.TimeDistributed(L.LSTM(2, stateful=True))
    with pytest.raises(ValueError, match="TimeDistributed 'td'.*Sequential model.*'layers' list"):
        L.TimeDistributed({"class_name": "Sequential", "config": {}}, name="td")
    with pytest.raises(ValueError, match=r"\(batch, timesteps, \.\.\.\)"):
        Sequential([Input((5,)), L.TimeDistributed(L.Dense(2))])


def test_a_wrapped_layer_named_like_an_outer_one_is_a_clear_error() -> None:
    """Both weights would be 'd/kernel': one state of the program. The error names the path."""
    backend.clear_session()
    inner = Sequential([Input((4,)), L.Dense(3, name="d")])
    model = Sequential([Input((2, 4)), L.TimeDistributed(inner), L.Flatten(), L.Dense(1, name="d")])
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="two weights are named 'd/kernel'.*rename one"):
        model.train_on_batch(np.zeros((2, 2, 4), np.float32), np.zeros((2, 1), np.float32))


def test_fit_over_folded_frames_takes_the_steps_of_a_train_on_batch_loop() -> None:
    """fit with TimeDistributed convolutions, pooling and Flatten on the frames folded into the batch
    (and a last batch of another size) applies what a train_on_batch loop applies."""

    def model() -> Sequential:
        built = _distributed(L.Conv2D(3, 3, activation="relu"), L.MaxPooling2D(), L.Flatten())
        built.add(L.Flatten())
        built.add(L.Dense(2))
        built.compile(SGD(0.1), "mse")
        return built

    backend.clear_session()
    x = RNG.normal(size=(7, T, *FRAME)).astype(np.float32)
    y = RNG.normal(size=(7, 2)).astype(np.float32)
    assert_fit_takes_the_loops_steps(model, x, y, batch_size=3)
