"""The activation layers (ReLU, ELU, PReLU, Softmax, ThresholdedReLU), LayerNormalization,
RepeatVector and Lambda: compiled values against numpy written from Keras's definitions,
gradients against finite differences of the compiled loss, configs, and Lambda's loading rules
(a file's function comes from custom_objects by name; bytecode is never run)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from graphc.keras import Sequential, backend, ops
from graphc.keras import layers as L
from graphc.keras.models import model_from_json
from graphc.keras.optimizers import SGD
from tests.frontend.finite_differences import model_loss, numeric_weight_gradient

RNG = np.random.default_rng(9)
X = RNG.normal(size=(12, 4)).astype(np.float32)


def _relu(x: np.ndarray) -> np.ndarray:
    # Keras 3 ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2)
    return np.where(x >= 0.2, np.minimum(x, 1.5), 0.1 * (x - 0.2))


def _layer_norm(x: np.ndarray, axes: tuple[int, ...], gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-3) * gamma + beta


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def double_plus(t: object, shift: float = 0.0) -> object:
    return t * 2.0 + shift


# name -> (layers after Dense(5, tanh), numpy of those layers given their weights and the hidden h)
CASES: dict[str, tuple[Callable[[], list], Callable[[list[np.ndarray], np.ndarray], np.ndarray]]] = {
    "relu": (lambda: [L.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2)], lambda w, h: _relu(3 * h)),
    "elu": (lambda: [L.ELU(alpha=0.5)], lambda w, h: np.where(3 * h > 0, 3 * h, 0.5 * (np.exp(3 * h) - 1))),
    "elu_smooth": (lambda: [L.ELU(alpha=1.0)], lambda w, h: np.where(3 * h > 0, 3 * h, np.exp(3 * h) - 1)),
    "thresholded": (lambda: [L.ThresholdedReLU(theta=0.4)], lambda w, h: np.where(3 * h > 0.4, 3 * h, 0.0)),
    "softmax": (lambda: [L.RepeatVector(2), L.Softmax(axis=1)],
                lambda w, h: _softmax(np.repeat((3 * h)[:, None], 2, axis=1), 1)),
    "prelu": (lambda: [L.RepeatVector(3), L.PReLU(alpha_initializer="random_uniform", shared_axes=[1])],
              lambda w, h: np.where(3 * h[:, None] >= 0, 3 * h[:, None], w[0] * 3 * h[:, None]).repeat(3, 1)),
    "layer_norm": (lambda: [L.LayerNormalization(gamma_initializer="random_uniform",
                                                 beta_initializer="random_uniform")],
                   lambda w, h: _layer_norm(3 * h, (1,), w[0], w[1])),
    "layer_norm_3d": (lambda: [L.RepeatVector(2), L.LayerNormalization(axis=[1, 2])],
                      lambda w, h: _layer_norm(np.repeat((3 * h)[:, None], 2, axis=1), (1, 2), w[0], w[1])),
    "lambda": (lambda: [L.Lambda(double_plus, arguments={"shift": 0.5}),
                        L.Lambda(lambda t: ops.mean(t, axis=-1, keepdims=True) * t)],
               lambda w, h: (6 * h + 0.5).mean(axis=-1, keepdims=True) * (6 * h + 0.5)),
    "lambda_strided": (lambda: [L.Lambda(lambda t: t[:, ::2] * t[:, 4::-2])],  # steps and a reversal
                       lambda w, h: (3 * h)[:, ::2] * (3 * h)[:, 4::-2]),
}


def _model(case: str) -> Sequential:
    backend.clear_session()
    extra, _ = CASES[case]
    # Dense(5) then a fixed x3 keeps the layers' inputs spread over both sides of their kinks
    model = Sequential([L.Dense(5, activation="tanh", input_shape=(4,)), L.Lambda(lambda t: t * 3.0),
                        *extra(), L.Flatten(), L.Dense(1)])
    model.compile(SGD(1.0), "mse")
    return model


def _hidden(model: Sequential) -> np.ndarray:
    kernel, bias = model.layers[0].get_weights()
    return np.tanh(X.astype(np.float64) @ kernel + bias)


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_match_numpy(case: str) -> None:
    model = _model(case)
    layer_weights = [w for layer in model.layers[2:-2] for w in layer.get_weights()]
    features = CASES[case][1](layer_weights, _hidden(model))
    kernel, bias = model.layers[-1].get_weights()
    expected = features.reshape(len(X), -1) @ kernel + bias
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=2e-5, atol=2e-5)


# ELU with alpha=1 has a continuous derivative: finite differences across its kink stay accurate
@pytest.mark.parametrize("case", ["relu", "elu_smooth", "softmax", "prelu", "layer_norm", "layer_norm_3d",
                                  "lambda", "lambda_strided"])
def test_gradients_match_finite_differences(case: str) -> None:
    """One SGD step of rate 1 subtracts the gradient; central differences of the compiled loss, for
    the first kernel and for the layer's own weights."""
    model = _model(case)
    y = RNG.normal(size=(len(X), 1)).astype(np.float32)
    start = model.get_weights()
    model.train_on_batch(X, y)
    steps = [w0 - w1 for w0, w1 in zip(start, model.get_weights(), strict=True)]
    eps = 1e-3 if case in ("relu", "prelu") else 1e-2  # piecewise linear: small steps cross fewer kinks
    for index in range(len(start) - 2):
        numeric = numeric_weight_gradient(model_loss(model, X, y), start, index, eps)
        scale = 1e-3 * max(1.0, float(np.abs(numeric).max()))  # float32 loss: noise grows with its size
        np.testing.assert_allclose(steps[index], numeric, rtol=3e-2, atol=scale, err_msg=f"weight {index}")


def test_configs_round_trip() -> None:
    backend.clear_session()
    model = Sequential([L.Dense(5, input_shape=(4,)), L.PReLU(shared_axes=None), L.ReLU(max_value=6.0),
                        L.ELU(alpha=0.3), L.LayerNormalization(epsilon=1e-5, center=False), L.RepeatVector(2),
                        L.Softmax(axis=-1), L.ThresholdedReLU(0.2),
                        L.Lambda(double_plus, arguments={"shift": 1.0})])
    again = model_from_json(model.to_json(), custom_objects={"double_plus": double_plus})
    again.set_weights(model.get_weights())
    assert [type(a).__name__ for a in again.layers] == [type(a).__name__ for a in model.layers]
    assert [layer.name for layer in model.layers[1:4]] == ["p_re_lu", "re_lu", "elu"]  # Keras's snake case
    np.testing.assert_allclose(again.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


def test_lambda_functions_are_never_loaded_from_the_file() -> None:
    backend.clear_session()
    named = Sequential([L.Dense(2, input_shape=(4,)), L.Lambda(double_plus)])
    with pytest.raises(ValueError, match=r"custom_objects=\{'double_plus': double_plus\}"):
        model_from_json(named.to_json())
    anonymous = Sequential([L.Dense(2, input_shape=(4,)), L.Lambda(lambda t: t + 1.0)])
    with pytest.raises(ValueError, match="never runs"):
        model_from_json(anonymous.to_json())
    keras2 = ('{"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": '
              '{"name": "l", "function": ["4wEAAAAAAAAA", null, null], "function_type": "lambda", '
              '"output_shape": null, "arguments": {}, "batch_input_shape": [null, 3]}}]}}')
    with pytest.raises(ValueError, match="bytecode"):
        model_from_json(keras2)


def test_bad_arguments_name_the_layer() -> None:
    with pytest.raises(ValueError, match="RepeatVector: `n` must be a positive integer"):
        L.RepeatVector(0)
    with pytest.raises(ValueError, match="takes inputs of shape \\(batch, features\\)"):
        Sequential([L.RepeatVector(2, input_shape=(3, 4))])
    with pytest.raises(ValueError, match="ELU: `alpha` must be a number"):
        L.ELU(alpha="big")
    with pytest.raises(ValueError, match="shared axis 3 is not an axis"):
        Sequential([L.PReLU(shared_axes=[3], input_shape=(4,))])
    with pytest.raises(ValueError, match=r"output_shape=\(7,\) but the function gives samples of shape"):
        Sequential([L.Lambda(double_plus, output_shape=(7,), input_shape=(4,))])
    with pytest.raises(TypeError, match="`function` must be callable"):
        L.Lambda("double_plus")


def euclidean_distance(pair: list) -> object:
    """The siamese networks' distance layer (keras.io's contrastive-loss example)."""
    from graphc.keras import backend as K

    left, right = pair
    return K.sqrt(K.maximum(K.sum(K.square(left - right), axis=1, keepdims=True), K.epsilon()))


def test_lambda_on_a_list_of_tensors() -> None:
    from graphc.keras import Input, Model

    backend.clear_session()
    first, second = Input((4,)), Input((4,))
    tower = L.Dense(3, activation="tanh")
    model = Model([first, second], L.Lambda(euclidean_distance)([tower(first), tower(second)]))
    other = X[::-1].copy()
    kernel, bias = model.get_weights()
    want = np.sqrt(np.maximum(((np.tanh(X @ kernel + bias) - np.tanh(other @ kernel + bias)) ** 2).sum(
        axis=1, keepdims=True), 1e-7))
    np.testing.assert_allclose(model.predict([X, other], verbose=0), want, rtol=1e-5, atol=1e-6)
    again = model_from_json(model.to_json(), custom_objects={"euclidean_distance": euclidean_distance})
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict([X, other], verbose=0), want, rtol=1e-5, atol=1e-6)
