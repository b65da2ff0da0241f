"""Recurrent layers' states: return_state gives the final h (and c), initial_state starts the
recurrence from given tensors (the encoder-decoder pattern), with numpy written from Keras's cell
formulas as the oracle, gradients into the initial state against finite differences, and
configs in Keras 3's (kwargs) and Keras 2's (extra inputs) forms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from graphc.keras import Input, Model, backend
from graphc.keras import layers as L
from graphc.keras.models import Sequential, load_model, model_from_json
from graphc.keras.optimizers import SGD
from tests.frontend.finite_differences import numeric_weight_gradient

RNG = np.random.default_rng(23)
X = RNG.normal(size=(5, 6, 3)).astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _lstm(x: np.ndarray, weights: list[np.ndarray], h: np.ndarray | None = None, c: np.ndarray | None = None,
          mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keras's LSTM cell step by step (gates i, f, c, o); masked steps keep the state. Returns the
    sequence of h and the final h and c."""
    kernel, recurrent, bias = (w.astype(np.float64) for w in weights)
    units = recurrent.shape[0]
    h = np.zeros((len(x), units)) if h is None else h.astype(np.float64)
    c = np.zeros_like(h) if c is None else c.astype(np.float64)
    outputs = []
    for t in range(x.shape[1]):
        a = x[:, t] @ kernel + h @ recurrent + bias
        i, f, o = _sigmoid(a[:, :units]), _sigmoid(a[:, units:2 * units]), _sigmoid(a[:, 3 * units:])
        new_c = f * c + i * np.tanh(a[:, 2 * units:3 * units])
        new_h = o * np.tanh(new_c)
        keep = np.ones((len(x), 1)) if mask is None else mask[:, t:t + 1]
        h, c = keep * new_h + (1 - keep) * h, keep * new_c + (1 - keep) * c
        outputs.append(h)
    return np.stack(outputs, axis=1), h, c


def _gru(x: np.ndarray, weights: list[np.ndarray], h: np.ndarray | None = None) -> np.ndarray:
    """Keras 3's GRU (reset_after=True): gates z, r, h; bias rows (input, recurrent)."""
    kernel, recurrent, bias = (w.astype(np.float64) for w in weights)
    units = recurrent.shape[0]
    h = np.zeros((len(x), units)) if h is None else h.astype(np.float64)
    for t in range(x.shape[1]):
        xz, xr, xh = np.split(x[:, t] @ kernel + bias[0], 3, axis=1)
        rz, rr, rh = np.split(h @ recurrent + bias[1], 3, axis=1)
        z, r = _sigmoid(xz + rz), _sigmoid(xr + rr)
        h = z * h + (1 - z) * np.tanh(xh + r * rh)
    return h


def test_return_state_gives_the_final_states() -> None:
    backend.clear_session()
    inputs = Input((6, 3))
    sequence, h, c = L.LSTM(4, return_sequences=True, return_state=True)(inputs)
    model = Model(inputs, [sequence, h, c])
    got = model.predict(X, verbose=0)
    want = _lstm(X, model.layers[1].get_weights())
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    gru_in = Input((6, 3))
    last, state = L.GRU(3, return_state=True)(gru_in)
    gru = Model(gru_in, [last, state])
    got_last, got_state = gru.predict(X, verbose=0)
    np.testing.assert_allclose(got_state, _gru(X, gru.layers[1].get_weights()), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got_last, got_state)


def test_masked_steps_leave_the_final_state_where_the_sequence_ended() -> None:
    backend.clear_session()
    ids = Input((6,))
    embedded = L.Embedding(10, 3, mask_zero=True)(ids)
    _, h, c = L.LSTM(4, return_state=True)(embedded)
    model = Model(ids, [h, c])
    tokens = RNG.integers(1, 10, size=(5, 6)).astype(np.float32)
    tokens[:, 4:] = 0  # padding at the end
    tokens[0, 2:] = 0
    table = model.layers[1].get_weights()[0]
    vectors = table[tokens.astype(int)]
    mask = (tokens != 0).astype(np.float64)
    _, want_h, want_c = _lstm(vectors, model.layers[2].get_weights(), mask=mask)
    got_h, got_c = model.predict(tokens, verbose=0)
    np.testing.assert_allclose(got_h, want_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_c, want_c, rtol=1e-5, atol=1e-6)


def _seq2seq() -> Model:
    """Keras's encoder-decoder: the encoder's final states start the decoder."""
    backend.clear_session()
    encoder_inputs = Input((6, 3), name="encoder_inputs")
    _, state_h, state_c = L.LSTM(4, return_state=True, name="encoder")(encoder_inputs)
    decoder_inputs = Input((5, 2), name="decoder_inputs")
    decoder_outputs, _, _ = L.LSTM(4, return_sequences=True, return_state=True, name="decoder")(
        decoder_inputs, initial_state=[state_h, state_c])
    outputs = L.Dense(2, name="head")(decoder_outputs)
    model = Model([encoder_inputs, decoder_inputs], outputs)
    model.compile(SGD(1.0), "mse")
    return model


DECODER_X = RNG.normal(size=(5, 5, 2)).astype(np.float32)
TARGET = RNG.normal(size=(5, 5, 2)).astype(np.float32)


def _seq2seq_numpy(weights: list[np.ndarray]) -> np.ndarray:
    _, h, c = _lstm(X, weights[0:3])
    sequence, _, _ = _lstm(DECODER_X, weights[3:6], h, c)
    return sequence @ weights[6] + weights[7]


def test_initial_state_starts_the_decoder_from_the_encoder() -> None:
    model = _seq2seq()
    np.testing.assert_allclose(model.predict([X, DECODER_X], verbose=0), _seq2seq_numpy(model.get_weights()),
                               rtol=1e-5, atol=1e-6)


def test_training_reaches_the_encoder_through_the_initial_state() -> None:
    """One SGD step of rate 1 subtracts the gradient; the encoder's weights get theirs only through
    the decoder's initial state. Central differences in float64 numpy as the oracle."""
    model = _seq2seq()
    start = [w.astype(np.float64) for w in model.get_weights()]
    model.train_on_batch([X, DECODER_X], TARGET)
    steps = [w0 - w1 for w0, w1 in zip(start, model.get_weights(), strict=True)]

    def loss(weights: list[np.ndarray]) -> float:
        return float(((_seq2seq_numpy(weights) - TARGET) ** 2).mean())

    eps = 1e-6
    for index in (0, 1, 2, 4):  # the encoder's kernel, recurrent kernel and bias; the decoder's U
        numeric = numeric_weight_gradient(loss, start, index, eps)
        np.testing.assert_allclose(steps[index], numeric, rtol=1e-3, atol=1e-5, err_msg=f"weight {index}")


def test_configs_keep_the_states_in_keras_3_and_keras_2_forms(tmp_path: Path) -> None:
    model = _seq2seq()
    expected = model.predict([X, DECODER_X], verbose=0)
    config = json.loads(model.to_json())
    decoder = next(entry for entry in config["config"]["layers"] if entry["name"] == "decoder")
    node = decoder["inbound_nodes"][0]
    assert [ref["config"]["keras_history"] for ref in node["kwargs"]["initial_state"]] == [
        ["encoder", 0, 1], ["encoder", 0, 2]]
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict([X, DECODER_X], verbose=0), expected, rtol=1e-6)
    model.save(tmp_path / "seq2seq.keras")
    np.testing.assert_allclose(load_model(tmp_path / "seq2seq.keras").predict([X, DECODER_X], verbose=0),
                               expected, rtol=1e-6)
    # Keras 2 writes the initial states as more inputs of the call: [[x], [h], [c]]
    decoder["inbound_nodes"] = [[["decoder_inputs", 0, 0, {}], ["encoder", 0, 1, {}], ["encoder", 0, 2, {}]]]
    keras2 = model_from_json(json.dumps(config))
    keras2.set_weights(model.get_weights())
    np.testing.assert_allclose(keras2.predict([X, DECODER_X], verbose=0), expected, rtol=1e-6)


def test_bidirectional_without_merge_returns_both_directions() -> None:
    backend.clear_session()
    inputs = Input((6, 3))
    forward, backward = L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode=None)(inputs)
    model = Model(inputs, [forward, backward])
    concat = Model(inputs, L.Concatenate()([forward, backward]))
    weights = model.layers[1].get_weights()
    want_forward, _, _ = _lstm(X, weights[:3])
    want_backward, _, _ = _lstm(X[:, ::-1], weights[3:])
    got_forward, got_backward = model.predict(X, verbose=0)
    np.testing.assert_allclose(got_forward, want_forward, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_backward, want_backward[:, ::-1], rtol=1e-5, atol=1e-6)  # in time order
    np.testing.assert_allclose(concat.predict(X, verbose=0), np.concatenate([got_forward, got_backward], -1),
                               rtol=1e-6)
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict(X, verbose=0)[1], got_backward, rtol=1e-6)


def test_bad_states_name_the_layer() -> None:
    backend.clear_session()
    inputs = Input((6, 3))
    h = Input((4,))
    with pytest.raises(ValueError, match=r"'decoder': initial_state must be \[h, c\]"):
        L.LSTM(4, name="decoder")(inputs, initial_state=[h])
    with pytest.raises(ValueError, match=r"each initial state must have shape \(batch, 5\)"):
        L.GRU(5)(inputs, initial_state=[h])
    with pytest.raises(ValueError, match=r"must be \[forward_h, forward_c, backward_h, backward_c\]"):
        L.Bidirectional(L.LSTM(4))(inputs, initial_state=[h, h])
    with pytest.raises(ValueError, match="initial state backward_h must have shape \\(batch, 4\\)"):
        L.Bidirectional(L.GRU(4))(inputs, initial_state=[h, Input((3,))])


def _stateful(batch: int = 2) -> Model:
    backend.clear_session()
    from graphc.keras import Sequential

    model = Sequential([L.LSTM(4, batch_input_shape=(batch, 6, 3), stateful=True, name="memory"), L.Dense(1)])
    model.compile(SGD(1.0), "mse")
    return model


def test_stateful_layers_carry_their_states_from_batch_to_batch() -> None:
    """Sample i of a batch starts from the final state of sample i of the batch before, until
    reset_states(); numpy with the carried states as the oracle."""
    model = _stateful()
    weights = model.get_weights()
    x = np.concatenate([X, X[:1]])  # 6 samples: 3 batches of 2
    got = model.predict(x, batch_size=2, verbose=0)
    h = c = np.zeros((2, 4))
    want = []
    for start in range(0, 6, 2):
        _, h, c = _lstm(x[start:start + 2], weights[:3], h, c)
        want.append(h @ weights[3] + weights[4])
    np.testing.assert_allclose(got, np.concatenate(want), rtol=1e-5, atol=1e-6)
    model.reset_states()
    np.testing.assert_allclose(model.predict(x[:2], batch_size=2, verbose=0), want[0], rtol=1e-5, atol=1e-6)
    model.layers[0].reset_states()  # the layer's own reset
    np.testing.assert_allclose(model.predict(x[:2], batch_size=2, verbose=0), want[0], rtol=1e-5, atol=1e-6)


def test_a_stateful_training_step_starts_from_the_carried_state() -> None:
    """The gradient of a step flows within the batch only (the carried state is a constant input),
    as Keras truncates backpropagation at the batch boundary."""
    model = _stateful()
    start = [w.astype(np.float64) for w in model.get_weights()]
    target = RNG.normal(size=(2, 1)).astype(np.float32)
    model.predict(X[:2], batch_size=2, verbose=0)  # the first batch sets the state
    model.train_on_batch(X[2:4], target)
    steps = [w0 - w1 for w0, w1 in zip(start, model.get_weights(), strict=True)]
    _, h0, c0 = _lstm(X[:2], start[:3])

    def loss(weights: list[np.ndarray]) -> float:
        _, h, _ = _lstm(X[2:4], weights[:3], h0, c0)
        return float(((h @ weights[3] + weights[4] - target) ** 2).mean())

    eps = 1e-6
    for index in (0, 1, 2):
        numeric = numeric_weight_gradient(loss, start, index, eps)
        np.testing.assert_allclose(steps[index], numeric, rtol=1e-3, atol=1e-6, err_msg=f"weight {index}")


def test_stateful_configs_and_errors() -> None:
    model = _stateful(batch=3)
    config = json.loads(model.to_json())
    entry = config["config"]["layers"][0]
    assert entry["config"]["batch_shape"] == [3, 6, 3] and config["config"]["layers"][1]["config"]["stateful"]
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    x = np.concatenate([X, X[:1]])
    np.testing.assert_allclose(again.predict(x, batch_size=3, verbose=0),
                               model.predict(x, batch_size=3, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="'memory' is stateful with batch size 3: every batch must hold 3"):
        model.predict(X, verbose=0)
    backend.clear_session()
    with pytest.raises(ValueError, match="is stateful, so it needs to know its batch size"):
        inputs = Input((6, 3))
        Model(inputs, L.LSTM(2, stateful=True)(inputs)).predict(X, verbose=0)
    with pytest.raises(AttributeError, match="is not stateful"):
        L.LSTM(2).reset_states()


def test_recurrent_dropout_masks_h_with_one_mask_per_sequence() -> None:
    """SimpleRNN with identity kernels and no activation turns inputs [1, 0, 0] into h1 = 1,
    h2 = m * h1 = m and h3 = m * h2 = m**2: the output shows Keras 3's recurrent dropout mask m
    (0 or 1/(1-rate), one per sample and unit, the same at every step). Inference uses none."""
    backend.clear_session()
    units, rate = 50, 0.3
    inputs = Input((3, units))
    layer = L.SimpleRNN(units, activation="linear", use_bias=False, return_sequences=True,
                        recurrent_dropout=rate, kernel_initializer="identity",
                        recurrent_initializer="identity")
    model = Model(inputs, layer(inputs))
    x = np.zeros((200, 3, units), dtype=np.float32)
    x[:, 0] = 1.0
    out = np.asarray(model(x, training=True))
    mask = out[:, 1]
    np.testing.assert_allclose(np.unique(mask), [0.0, 1 / (1 - rate)], rtol=1e-6)
    assert abs(float((mask == 0).mean()) - rate) < 0.03
    np.testing.assert_allclose(out[:, 2], mask ** 2, rtol=1e-6)
    assert not np.array_equal(np.asarray(model(x, training=True))[:, 1], mask)  # a new mask per call
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.ones_like(out))  # inference: no dropout


def test_bidirectional_return_state_gives_both_directions_states() -> None:
    """Keras's [output, forward h, forward c, backward h, backward c]; the concatenated states start a
    decoder twice as wide (the usual bidirectional encoder)."""
    backend.clear_session()
    inputs = Input((6, 3))
    output, fh, fc, bh, bc = L.Bidirectional(L.LSTM(4, return_state=True))(inputs)
    decoder_inputs = Input((5, 2))
    decoded = L.LSTM(8, return_sequences=True)(
        decoder_inputs, initial_state=[L.Concatenate()([fh, bh]), L.Concatenate()([fc, bc])])
    model = Model([inputs, decoder_inputs], [output, fh, fc, bh, bc, decoded])
    weights = next(layer for layer in model.layers if layer.name.startswith("bidirectional")).get_weights()
    got = model.predict([X, DECODER_X], verbose=0)
    _, want_fh, want_fc = _lstm(X, weights[:3])
    _, want_bh, want_bc = _lstm(X[:, ::-1], weights[3:])
    for a, b in zip(got[1:5], (want_fh, want_fc, want_bh, want_bc), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[0], np.concatenate([want_fh, want_bh], axis=-1), rtol=1e-5, atol=1e-6)
    decoder = next(layer for layer in model.layers if layer.name.startswith("lstm"))
    start = (np.concatenate([want_fh, want_bh], -1), np.concatenate([want_fc, want_bc], -1))
    np.testing.assert_allclose(got[5], _lstm(DECODER_X, decoder.get_weights(), *start)[0], rtol=1e-5,
                               atol=1e-6)


def test_rnn_of_a_cell_takes_states_as_its_layer_does() -> None:
    backend.clear_session()
    inputs, h0, c0 = Input((6, 3)), Input((4,)), Input((4,))
    output, h, c = L.RNN(L.LSTMCell(4), return_state=True)(inputs, initial_state=[h0, c0])
    model = Model([inputs, h0, c0], [output, h, c])
    start_h, start_c = RNG.normal(size=(5, 4)).astype(np.float32), RNG.normal(size=(5, 4)).astype(np.float32)
    got = model.predict([X, start_h, start_c], verbose=0)
    _, want_h, want_c = _lstm(X, model.layers[3].get_weights(), start_h, start_c)
    for a, b in zip(got, (want_h, want_h, want_c), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict([X, start_h, start_c], verbose=0)[2], got[2], rtol=1e-6)
    backend.clear_session()
    from graphc.keras import Sequential

    stateful = Sequential([L.RNN(L.GRUCell(3), stateful=True, batch_input_shape=(5, 6, 3))])
    first = stateful.predict(X, batch_size=5, verbose=0)
    assert not np.allclose(stateful.predict(X, batch_size=5, verbose=0), first)
    stateful.reset_states()
    np.testing.assert_allclose(stateful.predict(X, batch_size=5, verbose=0), first, rtol=1e-6)


def test_stacked_cells_compute_what_stacked_layers_do(tmp_path: Path) -> None:
    """Stepping stacked cells equals running their layers one after another (the first reading the
    sequence backwards with go_backwards); return_state gives every cell's states in order."""
    backend.clear_session()
    from graphc.keras import Sequential

    inputs = Input((6, 3))
    outputs = L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.GRUCell(3)]), return_state=True,
                    go_backwards=True)(inputs)
    model = Model(inputs, outputs)
    chain = Sequential([Input((6, 3)), L.LSTM(4, return_sequences=True, go_backwards=True), L.GRU(3)])
    chain.set_weights(model.get_weights())
    last, h1, c1, h2 = model.predict(X, verbose=0)
    np.testing.assert_allclose(last, chain.predict(X, verbose=0), rtol=1e-6)
    np.testing.assert_array_equal(last, h2)
    _, want_h1, want_c1 = _lstm(X[:, ::-1], model.get_weights()[:3])
    np.testing.assert_allclose(h1, want_h1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c1, want_c1, rtol=1e-5, atol=1e-6)
    listed = Model(inputs, L.RNN([L.SimpleRNNCell(2), L.LSTMCell(2)], return_sequences=True)(inputs))
    again = model_from_json(listed.to_json())
    again.set_weights(listed.get_weights())
    np.testing.assert_allclose(again.predict(X, verbose=0), listed.predict(X, verbose=0), rtol=1e-6)
    model.save(tmp_path / "stacked.keras")
    for a, b in zip(load_model(tmp_path / "stacked.keras").predict(X, verbose=0), (last, h1, c1, h2),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_bidirectional_initial_state_starts_each_direction_from_its_half() -> None:
    """Keras passes [fw_h, fw_c] to the forward layer and [bw_h, bw_c] to the backward one; configs keep
    the states in Keras 3's (initial_state kwarg) and Keras 2's (more inputs of the call) forms."""
    backend.clear_session()
    inputs, states = Input((6, 3)), [Input((4,)) for _ in range(4)]
    bidirectional = L.Bidirectional(L.LSTM(4, return_sequences=True, return_state=True))
    model = Model([inputs, *states], bidirectional(inputs, initial_state=states))
    start = [RNG.normal(size=(5, 4)).astype(np.float32) for _ in range(4)]
    got = model.predict([X, *start], verbose=0)
    weights = bidirectional.get_weights()
    forward, fh, fc = _lstm(X, weights[:3], *start[:2])
    backward, bh, bc = _lstm(X[:, ::-1], weights[3:], *start[2:])
    want = [np.concatenate([forward, backward[:, ::-1]], axis=-1), fh, fc, bh, bc]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    config = json.loads(model.to_json())
    entry = next(e for e in config["config"]["layers"] if e["class_name"] == "Bidirectional")
    assert len(entry["inbound_nodes"][0]["kwargs"]["initial_state"]) == 4
    again = model_from_json(json.dumps(config))
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict([X, *start], verbose=0)[0], got[0], rtol=1e-6)
    sources = [inputs, *states]  # Keras 2: [[x], [fw_h], [fw_c], [bw_h], [bw_c]]
    entry["inbound_nodes"] = [[[t.layer.name, 0, 0, {}] for t in sources]]
    keras2 = model_from_json(json.dumps(config))
    keras2.set_weights(model.get_weights())
    np.testing.assert_allclose(keras2.predict([X, *start], verbose=0)[3], got[3], rtol=1e-6)


def test_bidirectional_initial_state_trains_as_the_two_layers_run_separately() -> None:
    """States made from another input by Dense layers: one SGD step of Bidirectional(GRU, sum) equals
    the step of a forward GRU plus a go_backwards GRU, each started from its own state."""
    backend.clear_session()
    z = RNG.normal(size=(5, 2)).astype(np.float32)
    target = RNG.normal(size=(5, 3)).astype(np.float32)

    def build(bidirectional: bool) -> tuple[Model, list[L.Layer]]:
        inputs, code = Input((6, 3)), Input((2,))
        starts = [L.Dense(3, name=f"start_{side}") for side in ("forward", "backward")]
        h = [start(code) for start in starts]
        if bidirectional:
            wrapper = L.Bidirectional(L.GRU(3), merge_mode="sum")
            return Model([inputs, code], wrapper(inputs, initial_state=h)), [*starts, wrapper]
        forward, backward = L.GRU(3), L.GRU(3, go_backwards=True)
        output = L.Add()([forward(inputs, initial_state=[h[0]]), backward(inputs, initial_state=[h[1]])])
        return Model([inputs, code], output), [*starts, forward, backward]

    model, (start_f, start_b, wrapper) = build(True)
    separate, (sep_f, sep_b, forward, backward) = build(False)
    pairs = ((start_f, sep_f), (start_b, sep_b), (wrapper.forward_layer, forward),
             (wrapper.backward_layer, backward))
    for mine, theirs in pairs:
        theirs.set_weights(mine.get_weights())
    h0 = [z @ kernel + bias for kernel, bias in (start_f.get_weights(), start_b.get_weights())]
    want = _gru(X, forward.get_weights(), h0[0]) + _gru(X[:, ::-1], backward.get_weights(), h0[1])
    np.testing.assert_allclose(model.predict([X, z], verbose=0), want, rtol=1e-5, atol=1e-6)
    before = start_b.get_weights()[0]
    for each in (model, separate):
        each.compile(SGD(0.5), "mse")
    np.testing.assert_allclose(model.train_on_batch([X, z], target), separate.train_on_batch([X, z], target),
                               rtol=1e-5)
    for mine, theirs in pairs:
        for a, b in zip(mine.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert not np.allclose(start_b.get_weights()[0], before)  # the gradient reached the backward state


def test_a_stateful_bidirectional_layer_carries_each_direction() -> None:
    """L.Bidirectional(L.LSTM(stateful=True)): each direction continues from its own final states, as the
    two stateful layers alone do, until reset_states."""
    backend.clear_session()
    batch, steps, features = 2, 4, 3
    rng = np.random.default_rng(3)
    first, second = (rng.normal(size=(batch, steps, features)).astype(np.float32) for _ in range(2))
    def bidirectional() -> Model:
        x = Input(batch_shape=(batch, steps, features))
        return Model(x, L.Bidirectional(L.LSTM(5, stateful=True), merge_mode=None)(x))

    both = bidirectional()
    forward = Sequential([Input(batch_shape=(batch, steps, features)), L.LSTM(5, stateful=True)])
    backward = Sequential([Input(batch_shape=(batch, steps, features)),
                           L.LSTM(5, stateful=True, go_backwards=True)])
    weights = both.get_weights()
    forward.set_weights(weights[:3])
    backward.set_weights(weights[3:])
    for x in (first, second, first):
        got = both.predict(x, batch_size=batch, verbose=0)
        for part, alone in zip(got, (forward, backward), strict=True):
            want = alone.predict(x, batch_size=batch, verbose=0)
            np.testing.assert_allclose(part, want, rtol=1e-5, atol=1e-6)
    both.reset_states()
    fresh = bidirectional()
    fresh.set_weights(weights)
    np.testing.assert_allclose(both.predict(first, batch_size=batch, verbose=0)[0],
                               fresh.predict(first, batch_size=batch, verbose=0)[0], rtol=1e-6)
