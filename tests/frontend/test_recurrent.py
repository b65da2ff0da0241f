"""Recurrent layers: Keras's formulas in numpy as the oracle, masks as skipped steps, configs, and
errors that name the layer. Real Keras files are checked in test_keras_sequence_files.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from graphc.keras import Input, Model, Sequential, backend
from graphc.keras import layers as L
from graphc.keras.models import load_model, model_from_json
from graphc.keras.optimizers import Adam
from graphc.keras.utils import set_random_seed

RNG = np.random.default_rng(21)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _numpy_lstm(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Keras's LSTM cell, step by step: gates i, f, c, o."""
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        a = x[:, t] @ kernel + h @ recurrent + bias
        i, f, o = _sigmoid(a[:, :units]), _sigmoid(a[:, units:2 * units]), _sigmoid(a[:, 3 * units:])
        c = f * c + i * np.tanh(a[:, 2 * units:3 * units])
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def test_lstm_and_simple_rnn_follow_keras_formulas() -> None:
    backend.clear_session()
    x = RNG.normal(size=(3, 5, 4)).astype(np.float32)
    model = Sequential([L.LSTM(6, return_sequences=True, input_shape=(5, 4))])
    kernel, recurrent, bias = model.get_weights()
    assert bias[6:12].tolist() == [1.0] * 6  # unit_forget_bias
    np.testing.assert_allclose(model.predict(x, verbose=0), _numpy_lstm(x, kernel, recurrent, bias),
                               rtol=1e-5, atol=1e-6)
    simple = Sequential([L.SimpleRNN(3, activation="relu", go_backwards=True, input_shape=(5, 4))])
    k, r, bb = simple.get_weights()
    h = np.zeros((3, 3))
    for t in range(4, -1, -1):
        h = np.maximum(x[:, t] @ k + h @ r + bb, 0)
    np.testing.assert_allclose(simple.predict(x, verbose=0), h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [L.LSTM, L.GRU, L.SimpleRNN])
def test_a_masked_step_is_skipped(layer: type) -> None:
    """Post-padded sequences: the result equals running each sequence on its real length alone."""
    backend.clear_session()
    ids = np.array([[3, 5, 2, 0, 0], [4, 1, 1, 7, 2], [6, 0, 0, 0, 0]], dtype=np.int32)
    model = Sequential([L.Embedding(8, 4, mask_zero=True, input_length=5), layer(3)])
    expected = []
    for row in ids:
        length = int((row != 0).sum())
        alone = Sequential([L.Embedding(8, 4, input_length=length), layer(3)])
        alone.set_weights(model.get_weights())
        expected.append(alone.predict(row[None, :length], verbose=0)[0])
    np.testing.assert_allclose(model.predict(ids, verbose=0), np.array(expected), rtol=1e-5, atol=1e-6)


def test_masking_layer_and_masked_average() -> None:
    backend.clear_session()
    x = RNG.normal(size=(2, 4, 3)).astype(np.float32)
    x[0, 2:] = 0.0
    inputs = Input((4, 3))
    masked = L.Masking(0.0)(inputs)
    model = Model(inputs, L.GlobalAveragePooling1D()(masked))
    expected = np.stack([x[0, :2].mean(axis=0), x[1].mean(axis=0)])
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-7)


def test_unroll_gives_the_same_numbers_and_configs_round_trip() -> None:
    backend.clear_session()
    x = RNG.normal(size=(2, 6, 3)).astype(np.float32)
    model = Sequential([L.Bidirectional(L.GRU(4, return_sequences=True, reset_after=False),
                                        input_shape=(6, 3)),
                        L.LSTM(2, unroll=True, go_backwards=True), L.Dense(1)])
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    config = json.loads(model.to_json())["config"]["layers"]
    assert config[1]["config"]["layer"]["config"]["name"].startswith("forward_")
    assert config[2]["config"]["unroll"] is True
    unrolled = Sequential([L.LSTM(2, unroll=False, input_shape=(6, 3))])
    rolled = Sequential([L.LSTM(2, unroll=True, input_shape=(6, 3))])
    rolled.set_weights(unrolled.get_weights())
    np.testing.assert_array_equal(rolled.predict(x, verbose=0), unrolled.predict(x, verbose=0))


def test_keras_3_object_tree_of_wrapped_layers(tmp_path: Path) -> None:
    backend.clear_session()
    model = Sequential([L.Bidirectional(L.LSTM(3), input_shape=(4, 2)), L.Dense(1)])
    model.save_weights(tmp_path / "w.weights.h5")
    import h5py

    with h5py.File(tmp_path / "w.weights.h5", "r") as f:
        assert f["layers/bidirectional/forward_layer/cell/vars/1"].shape == (3, 12)
        assert f["layers/bidirectional/backward_layer/cell/vars"].attrs["name"] == "lstm_cell"
        assert f["layers/bidirectional/forward_layer/vars"].attrs["name"] == "forward_lstm"
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    x = RNG.normal(size=(2, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [w.path for w in loaded.weights][:2] == ["bidirectional/forward_lstm/lstm_cell/kernel",
                                                   "bidirectional/forward_lstm/lstm_cell/recurrent_kernel"]


def test_training_learns_a_sequence_task() -> None:
    """Whether a sequence's sum is positive: needs memory over the whole sequence."""
    backend.clear_session()
    set_random_seed(5)
    x = np.random.default_rng(5).normal(size=(256, 10, 1)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.float32)
    model = Sequential([L.LSTM(8, input_shape=(10, 1)), L.Dense(1, activation="sigmoid")])
    model.compile(Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] > 0.9


def test_bad_arguments_name_the_layer() -> None:
    with pytest.raises(ValueError, match="'rnn'.*`activation`.*swishy"):
        L.SimpleRNN(3, activation="swishy", name="rnn")
    with pytest.raises(ValueError, match="units"):
        L.LSTM(0)
    with pytest.raises(ValueError, match=r"\(batch, timesteps, features\)"):
        Sequential([L.LSTM(3, input_shape=(4,))])
    with pytest.raises(ValueError, match="merge_mode"):
        L.Bidirectional(L.LSTM(3), merge_mode="max")


def test_time_distributed_dense_applies_per_step() -> None:
    backend.clear_session()
    x = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    model = Sequential([L.TimeDistributed(L.Dense(2, activation="tanh"), input_shape=(5, 3))])
    kernel, bias = model.get_weights()
    assert [w.path for w in model.weights] == ["time_distributed/dense/kernel", "time_distributed/dense/bias"]
    np.testing.assert_allclose(model.predict(x, verbose=0), np.tanh(x @ kernel + bias), rtol=1e-5, atol=1e-6)
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("cell, layer, cell_name", [
    (L.LSTMCell, L.LSTM, "lstm_cell"), (L.GRUCell, L.GRU, "gru_cell"),
    (L.SimpleRNNCell, L.SimpleRNN, "simple_rnn_cell")])
def test_rnn_of_a_cell_is_its_layer(cell: type, layer: type, cell_name: str) -> None:
    backend.clear_session()
    x = RNG.normal(size=(3, 4, 2)).astype(np.float32)
    wrapped = Sequential([L.RNN(cell(3), return_sequences=True, go_backwards=True, input_shape=(4, 2))])
    plain = Sequential([layer(3, return_sequences=True, go_backwards=True, input_shape=(4, 2))])
    plain.set_weights(wrapped.get_weights())
    np.testing.assert_array_equal(wrapped.predict(x, verbose=0), plain.predict(x, verbose=0))
    assert wrapped.weights[0].path == f"rnn/{cell_name}/kernel"
    again = model_from_json(wrapped.to_json())
    again.set_weights(wrapped.get_weights())
    np.testing.assert_array_equal(again.predict(x, verbose=0), wrapped.predict(x, verbose=0))
    with pytest.raises(ValueError, match="non-empty list of SimpleRNNCell"):
        L.RNN([cell(2), "lstm"])
