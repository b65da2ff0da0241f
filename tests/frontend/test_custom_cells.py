"""RNN(cell) with cells written by the user (Keras's custom-cell guide): the step is traced into a scan
whose gradient autodiff builds. Oracles: the built-in SimpleRNN and LSTM (checked against Keras's own
files elsewhere) given the same weights, and a numpy loop."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.keras import Input, Model, Sequential, backend, ops
from graphc.keras import layers as L
from graphc.keras.models import model_from_json
from graphc.keras.optimizers import SGD, Adam
from tests.frontend.fit_loop import assert_fit_takes_the_loops_steps

RNG = np.random.default_rng(5)
T, F, U = 5, 3, 4
X = RNG.normal(size=(6, T, F)).astype(np.float32)
Y = RNG.normal(size=(6, U)).astype(np.float32)


class MinimalRNNCell(L.Layer):
    """Keras's guide cell, with a bias and tanh: SimpleRNN's step."""

    def __init__(self, units: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape) -> None:
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="uniform", name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), initializer="uniform", name="recurrent_kernel"
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="uniform", name="bias")

    def call(self, inputs, states):
        output = ops.tanh(
            ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel) + self.bias
        )
        return output, [output]

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}


class PeepLSTMCell(L.Layer):
    """An LSTM step written out (Keras's gate order i, f, c, o): two states."""

    def __init__(self, units: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]

    def build(self, input_shape) -> None:
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, 4 * self.units), name="recurrent_kernel")
        self.bias = self.add_weight(shape=(4 * self.units,), initializer="zeros", name="bias")

    def call(self, inputs, states):
        h, c = states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
        u = self.units
        i, f = ops.sigmoid(z[:, :u]), ops.sigmoid(z[:, u : 2 * u])
        g, o = ops.tanh(z[:, 2 * u : 3 * u]), ops.sigmoid(z[:, 3 * u :])
        c = f * c + i * g
        h = o * ops.tanh(c)
        return h, [h, c]


def _pair(cell_layer, builtin, **options):
    backend.clear_session()
    custom = Sequential([Input((T, F)), L.RNN(cell_layer, **options)])
    reference = Sequential([Input((T, F)), builtin(U, **options)])
    reference.set_weights(custom.get_weights())
    for model in (custom, reference):
        model.compile(SGD(0.1), "mse")
    return custom, reference


@pytest.mark.parametrize("options", [{}, {"return_sequences": True, "go_backwards": True}])
def test_a_custom_cell_computes_and_trains_as_the_builtin_layer(options) -> None:
    custom, reference = _pair(MinimalRNNCell(U), L.SimpleRNN, **options)
    np.testing.assert_allclose(
        custom.predict(X, verbose=0), reference.predict(X, verbose=0), rtol=1e-5, atol=1e-6
    )
    target = np.repeat(Y[:, None], T, axis=1) if options else Y
    for _ in range(3):
        losses = [m.train_on_batch(X, target) for m in (custom, reference)]
        np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    for got, want in zip(custom.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_a_cell_with_two_states_matches_lstm_with_return_state() -> None:
    backend.clear_session()
    x = Input((T, F))
    out, h, c = L.RNN(PeepLSTMCell(U), return_state=True)(x)
    custom = Model(x, L.Concatenate()([out, h, c]))
    x2 = Input((T, F))
    out2, h2, c2 = L.LSTM(U, return_state=True)(x2)
    reference = Model(x2, L.Concatenate()([out2, h2, c2]))
    reference.set_weights(custom.get_weights())
    np.testing.assert_allclose(
        custom.predict(X, verbose=0), reference.predict(X, verbose=0), rtol=1e-5, atol=1e-6
    )
    for model in (custom, reference):
        model.compile(SGD(0.5), "mse")
    target = np.tile(Y, 3)
    for _ in range(2):
        np.testing.assert_allclose(
            custom.train_on_batch(X, target), reference.train_on_batch(X, target), rtol=1e-5
        )
    for got, want in zip(custom.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_initial_state_and_numpy_loop() -> None:
    backend.clear_session()
    x, h0 = Input((T, F)), Input((U,))
    model = Model([x, h0], L.RNN(MinimalRNNCell(U), return_sequences=True)(x, initial_state=[h0]))
    w, u, bias = model.get_weights()
    start = RNG.normal(size=(6, U)).astype(np.float32)
    h, expected = start, []
    for t in range(T):
        h = np.tanh(X[:, t] @ w + h @ u + bias)
        expected.append(h)
    np.testing.assert_allclose(
        model.predict([X, start], verbose=0), np.stack(expected, 1), rtol=1e-5, atol=1e-6
    )


def test_configs_round_trip_with_custom_objects() -> None:
    backend.clear_session()
    model = Sequential([Input((T, F)), L.RNN(MinimalRNNCell(U), name="loop"), L.Dense(1)])
    again = model_from_json(model.to_json(), custom_objects={"MinimalRNNCell": MinimalRNNCell})
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)
    assert [w.path for w in model.weights][:1] == ["loop/minimal_rnn_cell/kernel"]
    with pytest.raises(ValueError, match="custom_objects"):
        model_from_json(model.to_json())


def test_a_cell_returning_the_wrong_state_names_it() -> None:
    class Broken(MinimalRNNCell):
        def call(self, inputs, states):
            return states[0], [ops.concatenate([states[0], states[0]], axis=-1)]

    backend.clear_session()
    with pytest.raises(ValueError, match="state 0 has shape"):
        Sequential([Input((T, F)), L.RNN(Broken(U))])


@pytest.mark.parametrize("go_backwards", [False, True])
def test_unroll_inlines_the_step_with_the_same_numbers(go_backwards) -> None:
    backend.clear_session()
    looped = Sequential(
        [Input((T, F)), L.RNN(MinimalRNNCell(U), return_sequences=True, go_backwards=go_backwards)]
    )
    unrolled = Sequential(
        [
            Input((T, F)),
            L.RNN(MinimalRNNCell(U), return_sequences=True, go_backwards=go_backwards, unroll=True),
        ]
    )
    unrolled.set_weights(looped.get_weights())
    np.testing.assert_allclose(
        unrolled.predict(X, verbose=0), looped.predict(X, verbose=0), rtol=1e-6, atol=1e-7
    )
    for model in (looped, unrolled):
        model.compile(SGD(0.1), "mse")
    target = np.repeat(Y[:, None], T, axis=1)
    np.testing.assert_allclose(
        unrolled.train_on_batch(X, target), looped.train_on_batch(X, target), rtol=1e-6
    )


def test_a_scan_inside_a_scan_trains() -> None:
    """TimeDistributed(RNN(custom cell)): the inner scan's gradient inside the outer one's reverse scan."""
    backend.clear_session()
    frames = X.reshape(3, 2, T, F)
    nested = Sequential([Input((2, T, F)), L.TimeDistributed(L.RNN(MinimalRNNCell(U)))])
    flat = Sequential([Input((T, F)), L.RNN(MinimalRNNCell(U))])
    flat.set_weights(nested.get_weights())
    for model in (nested, flat):
        model.compile(SGD(0.1), "mse")
    target = RNG.normal(size=(3, 2, U)).astype(np.float32)
    np.testing.assert_allclose(
        nested.train_on_batch(frames, target), flat.train_on_batch(X, target.reshape(6, U)), rtol=1e-5
    )
    for got, want in zip(nested.get_weights(), flat.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("options", [{"return_sequences": True}, {"go_backwards": True, "unroll": True}])
def test_masked_steps_keep_the_state_as_the_builtin_layer_does(options) -> None:
    """Embedding(mask_zero=True) before a custom cell: masked steps carry the states and repeat the last
    output, as the built-in SimpleRNN (checked against Keras's own files) does."""
    backend.clear_session()
    ids = RNG.integers(1, 9, (6, T)).astype(np.int32)
    ids[:2, :2] = 0
    ids[3, -2:] = 0

    def model(recurrent):
        built = Sequential([Input((T,), dtype="int32"), L.Embedding(9, F, mask_zero=True), recurrent])
        built.compile(SGD(0.1), "mse")
        return built

    custom = model(L.RNN(MinimalRNNCell(U), **options))
    reference = model(L.SimpleRNN(U, **options))
    reference.set_weights(custom.get_weights())
    np.testing.assert_allclose(custom.predict(ids, verbose=0), reference.predict(ids, verbose=0), rtol=1e-5,
                               atol=1e-6)
    target = np.zeros(custom.output_shape[1:], np.float32)[None].repeat(6, 0) + 0.3
    losses = [m.train_on_batch(ids, target) for m in (custom, reference)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    for got, want in zip(custom.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_fit_takes_the_steps_of_a_train_on_batch_loop() -> None:
    """fit over a custom-cell RNN and a TimeDistributed scan applies what a train_on_batch loop applies."""

    def model() -> Sequential:
        built = Sequential([Input((2, T, F)), L.TimeDistributed(L.RNN(MinimalRNNCell(U))), L.Flatten(),
                            L.Dense(1)])
        built.compile(Adam(0.01), "mse")
        return built

    backend.clear_session()
    frames = RNG.normal(size=(10, 2, T, F)).astype(np.float32)
    target = RNG.normal(size=(10, 1)).astype(np.float32)
    assert_fit_takes_the_loops_steps(model, frames, target, batch_size=4)


def test_a_stateful_custom_cell_carries_its_states_as_the_builtin_layer_does() -> None:
    """stateful=True with a cell the user writes: batch after batch, after reset_states() and through a
    training step, the same numbers as the stateful built-in LSTM with the same weights."""
    backend.clear_session()
    models = [Sequential([L.RNN(PeepLSTMCell(U), stateful=True, batch_input_shape=(2, T, F)), L.Dense(1)]),
              Sequential([L.LSTM(U, stateful=True, batch_input_shape=(2, T, F)), L.Dense(1)])]
    models[1].set_weights(models[0].get_weights())
    for model in models:
        model.compile(SGD(0.1), "mse")
    got = [[m.predict(X, batch_size=2, verbose=0) for _ in range(2)] for m in models]
    np.testing.assert_allclose(got[0], got[1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[0][0], got[0][1])  # the second pass starts from carried states
    for model in models:
        model.reset_states()
    losses = [m.train_on_batch(X[:2], Y[:2, :1]) for m in models]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    after = [m.predict(X[2:4], batch_size=2, verbose=0) for m in models]
    np.testing.assert_allclose(after[0], after[1], rtol=1e-5, atol=1e-6)
    models[0].layers[0].reset_states()
    models[1].layers[0].reset_states()
    np.testing.assert_allclose(models[0].predict(X[:2], batch_size=2, verbose=0),
                               models[1].predict(X[:2], batch_size=2, verbose=0), rtol=1e-5, atol=1e-6)
