"""Merge layers: values against numpy, gradients against finite differences, configs in the Keras 3
and Keras 2 forms, the summary's "Connected to" column, and errors that name the layer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from graphc.keras import Input, Model, Sequential, backend
from graphc.keras import layers as L
from graphc.keras.models import model_from_json
from graphc.keras.optimizers import SGD
from tests.frontend.finite_differences import model_loss, numeric_weight_gradient

RNG = np.random.default_rng(12)
X = RNG.normal(size=(10, 6)).astype(np.float32)
Y = (X[:, :1] > 0).astype(np.float32)


def _l2n(v: np.ndarray) -> np.ndarray:
    return v / np.sqrt(np.maximum((v * v).sum(axis=1, keepdims=True), 1e-12))


MERGES = {
    "add": (lambda a, c: L.Add()([a, c]), lambda a, c: a + c),
    "subtract": (lambda a, c: L.subtract([a, c]), lambda a, c: a - c),
    "multiply": (lambda a, c: L.Multiply()([a, c]), lambda a, c: a * c),
    "average": (lambda a, c: L.average([a, c]), lambda a, c: (a + c) / 2),
    "maximum": (lambda a, c: L.Maximum()([a, c]), np.maximum),
    "minimum": (lambda a, c: L.minimum([a, c]), np.minimum),
    "concatenate": (lambda a, c: L.concatenate([a, c], axis=1), lambda a, c: np.concatenate([a, c], 1)),
    "dot": (lambda a, c: L.Dot(axes=1)([a, c]), lambda a, c: (a * c).sum(1, keepdims=True)),
    "cosine": (lambda a, c: L.dot([a, c], axes=1, normalize=True),
               lambda a, c: (_l2n(a) * _l2n(c)).sum(1, keepdims=True)),
}


def _branches(merge: str) -> Model:
    backend.clear_session()
    inputs = Input((6,))
    a = L.Dense(4, activation="tanh")(inputs)
    c = L.Dense(4, activation="sigmoid")(inputs)
    outputs = L.Dense(1, activation="sigmoid")(MERGES[merge][0](a, c))
    model = Model(inputs, outputs)
    model.compile(SGD(1.0), "binary_crossentropy")
    return model


@pytest.mark.parametrize("merge", sorted(MERGES))
def test_values_match_numpy(merge: str) -> None:
    model = _branches(merge)
    ka, ba, kc, bc, ko, bo = model.get_weights()
    a, c = np.tanh(X @ ka + ba), 1 / (1 + np.exp(-(X @ kc + bc)))
    expected = 1 / (1 + np.exp(-(MERGES[merge][1](a, c) @ ko + bo)))
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("merge", ["add", "subtract", "multiply", "average", "concatenate", "cosine"])
def test_gradients_match_finite_differences(merge: str) -> None:
    """One SGD step of rate 1 subtracts the gradient; central differences of the compiled loss."""
    model = _branches(merge)
    start = model.get_weights()
    model.train_on_batch(X, Y)
    steps = [w0 - w1 for w0, w1 in zip(start, model.get_weights(), strict=True)]
    eps = 1e-2
    for index in (0, 2):  # the two branches' kernels
        numeric = numeric_weight_gradient(model_loss(model, X, Y), start, index, eps)
        np.testing.assert_allclose(steps[index], numeric, rtol=2e-2, atol=2e-4)


def test_configs_round_trip_in_keras_3_form_and_read_keras_2_form() -> None:
    model = _branches("concatenate")
    config = json.loads(model.to_json())
    merge = next(entry for entry in config["config"]["layers"] if entry["class_name"] == "Concatenate")
    (node,) = merge["inbound_nodes"]
    assert len(node["args"]) == 1 and [a["config"]["keras_history"][0] for a in node["args"][0]] == [
        "dense", "dense_1"]
    assert merge["config"]["axis"] == 1
    again = model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))
    keras2 = {"class_name": "Model", "config": {
        "name": "m", "input_layers": [["in", 0, 0]], "output_layers": [["sum", 0, 0]],
        "layers": [
            {"class_name": "InputLayer", "name": "in", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 3], "dtype": "float32", "name": "in"}},
            {"class_name": "Dense", "name": "d1", "inbound_nodes": [[["in", 0, 0, {}]]],
             "config": {"name": "d1", "units": 2}},
            {"class_name": "Dense", "name": "d2", "inbound_nodes": [[["in", 0, 0, {}]]],
             "config": {"name": "d2", "units": 2}},
            {"class_name": "Add", "name": "sum", "inbound_nodes": [[["d1", 0, 0, {}], ["d2", 0, 0, {}]]],
             "config": {"name": "sum"}}]}}
    loaded = model_from_json(json.dumps(keras2))
    k1, b1, k2, b2 = loaded.get_weights()
    x = X[:, :3]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), x @ k1 + b1 + x @ k2 + b2, rtol=1e-5, atol=1e-6)


def test_summary_of_a_graph_has_a_connected_to_column() -> None:
    lines: list[str] = []
    _branches("add").summary(line_length=108, print_fn=lines.append)
    text = lines[0]
    assert "Connected to" in text and "dense[0][0], dense_1[0][0]" in text
    lines.clear()
    Sequential([L.Dense(2, input_shape=(3,))]).summary(print_fn=lines.append)
    assert "Connected to" not in lines[0]


def test_bad_merges_name_the_layer() -> None:
    inputs = Input((6,))
    a, c, d = L.Dense(4)(inputs), L.Dense(5)(inputs), L.Dense(4)(inputs)
    with pytest.raises(ValueError, match="list of symbolic tensors"):
        L.Add(name="plus")(a)
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        L.Subtract()([a, d, a])
    with pytest.raises(ValueError, match=r"'plus2' \(Add\) cannot merge inputs of shapes "
                                         r"\[\(None, 4\), \(None, 5\)\]"):
        L.Add(name="plus2")([a, c])
    with pytest.raises(ValueError, match="cannot merge"):
        L.Concatenate(axis=0)([a, d])
    seq = L.Reshape((2, 3))(inputs)
    with pytest.raises(ValueError, match="not supported yet"):
        L.Dot(axes=2)([seq, seq])
    with pytest.raises(ValueError, match="list of symbolic tensors"):
        Sequential([L.Dense(4, input_shape=(6,)), L.Add()])
