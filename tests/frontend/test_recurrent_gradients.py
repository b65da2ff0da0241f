"""SimpleRNN, LSTM and GRU (both forms) run as scans: every cell, activation kind, direction and
masking against Keras's formulas in float64 numpy (the compiled predictions and the reference
interpreter's), and one training step's gradients against central differences of that numpy loss."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from graphc.frontend.programs import predict_graph
from graphc.interpreter import evaluate
from graphc.keras import Input, Sequential, backend
from graphc.keras import layers as L
from graphc.keras.optimizers import SGD
from tests.frontend.finite_differences import numeric_weight_gradient

N, T, F, UNITS = 3, 4, 3, 3
RNG = np.random.default_rng(7)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda x: np.maximum(x, 0.0), "linear": lambda x: x,
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0.0, 1.0),  # Keras 3: relu6(x + 3) / 6
}

CASES = [  # (label, layer class, arguments, masked)
    ("simple-tanh", L.SimpleRNN, {}, False),
    ("simple-relu-backwards-masked", L.SimpleRNN, {"activation": "relu", "go_backwards": True}, True),
    ("lstm-sequences-masked", L.LSTM, {"return_sequences": True}, True),
    ("lstm-hard-backwards", L.LSTM, {"recurrent_activation": "hard_sigmoid", "go_backwards": True}, False),
    ("gru", L.GRU, {"return_sequences": True}, False),
    ("gru-v1-backwards-masked", L.GRU, {"reset_after": False, "go_backwards": True}, True),
    ("gru-v1-linear", L.GRU, {"reset_after": False, "activation": "linear"}, False),
]


def _step(layer: str, arguments: dict, weights: list[np.ndarray], x: np.ndarray,
          states: list[np.ndarray]) -> list[np.ndarray]:
    """Keras's cell formulas: gates i, f, c, o (LSTM) and z, r, h (GRU)."""
    act = ACTIVATIONS[arguments.get("activation", "tanh")]
    rec = ACTIVATIONS[arguments.get("recurrent_activation", "sigmoid")]
    kernel, recurrent, bias = weights
    h = states[0]
    if layer == "SimpleRNN":
        return [act(x @ kernel + h @ recurrent + bias)]
    if layer == "LSTM":
        i, f, g, o = np.split(x @ kernel + h @ recurrent + bias, 4, axis=1)
        c = rec(f) * states[1] + rec(i) * act(g)
        return [rec(o) * act(c), c]
    if arguments.get("reset_after", True):
        xz, xr, xh = np.split(x @ kernel + bias[0], 3, axis=1)
        rz, rr, rh = np.split(h @ recurrent + bias[1], 3, axis=1)
        z, r = rec(xz + rz), rec(xr + rr)
        return [z * h + (1 - z) * act(xh + r * rh)]
    xz, xr, xh = np.split(x @ kernel + bias, 3, axis=1)
    uz, ur, uh = np.split(recurrent, 3, axis=1)
    z, r = rec(xz + h @ uz), rec(xr + h @ ur)
    return [z * h + (1 - z) * act(xh + (r * h) @ uh)]


def _numpy_layer(layer: str, arguments: dict, weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """The layer in float64 with Masking(0.0) in front: a step whose features are all 0 keeps the
    states and repeats the last output."""
    weights = [w.astype(np.float64) for w in weights]
    states = [np.zeros((len(x), UNITS)) for _ in range(2 if layer == "LSTM" else 1)]
    order = range(T - 1, -1, -1) if arguments.get("go_backwards") else range(T)
    outputs = []
    for t in order:
        keep = (x[:, t] != 0).any(axis=1, keepdims=True)
        new = _step(layer, arguments, weights, x[:, t].astype(np.float64), states)
        states = [np.where(keep, a, b) for a, b in zip(new, states, strict=True)]
        outputs.append(states[0])
    return np.stack(outputs, axis=1) if arguments.get("return_sequences") else states[0]


def _case(layer: type, arguments: dict, masked: bool) -> tuple[Sequential, np.ndarray]:
    backend.clear_session()
    stack = [Input((T, F)), L.Masking(0.0), layer(UNITS, **arguments)]
    model = Sequential(stack if masked else [stack[0], stack[2]])
    model.set_weights([RNG.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()])
    x = RNG.normal(size=(N, T, F)).astype(np.float32)
    if masked:
        x[0, 1] = 0.0  # a skipped step inside the first sequence
        x[2, 2:] = 0.0  # post-padding of the last
    return model, x


@pytest.mark.parametrize("label, layer, arguments, masked", CASES, ids=[c[0] for c in CASES])
def test_compiled_and_interpreter_follow_keras_formulas(label: str, layer: type, arguments: dict,
                                                        masked: bool) -> None:
    model, x = _case(layer, arguments, masked)
    want = _numpy_layer(layer.__name__, arguments, model.get_weights(), x)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    outputs, _ = evaluate(predict_graph(model), {"x": x}, {w.path: w.numpy() for w in model.weights})
    np.testing.assert_allclose(outputs["y_pred"], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("label, layer, arguments, masked", CASES, ids=[c[0] for c in CASES])
def test_a_training_step_follows_central_differences(label: str, layer: type, arguments: dict,
                                                     masked: bool) -> None:
    """One SGD step of rate 1 subtracts the gradient that backpropagation through the scan found."""
    model, x = _case(layer, arguments, masked)
    model.compile(SGD(1.0), "mse")
    y = RNG.normal(size=(N, *model.output_shape[1:])).astype(np.float32)
    start = [w.astype(np.float64) for w in model.get_weights()]
    model.train_on_batch(x, y)
    steps = [w0 - w1 for w0, w1 in zip(start, model.get_weights(), strict=True)]

    def loss(weights: list[np.ndarray]) -> float:
        return float(((_numpy_layer(layer.__name__, arguments, weights, x) - y) ** 2).mean())

    for index in range(len(start)):
        numeric = numeric_weight_gradient(loss, start, index, 1e-6)
        np.testing.assert_allclose(steps[index], numeric, rtol=1e-3, atol=1e-5, err_msg=f"weight {index}")
