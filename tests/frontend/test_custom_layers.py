"""Keras-style custom layers (build / call / add_weight written with keras.ops) are traced into the
compiled step: values against numpy, gradients against finite differences, saving with
custom_objects, and a clear error for Python control flow on traced tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphc.keras import Input, Model, Sequential, backend, ops
from graphc.keras import layers as L
from graphc.keras.models import load_model, model_from_json
from graphc.keras.optimizers import SGD
from graphc.keras.utils import custom_object_scope
from tests.frontend.finite_differences import model_loss, numeric_weight_gradient

RNG = np.random.default_rng(30)
X = RNG.normal(size=(12, 4)).astype(np.float32)
Y = (X[:, :1] > 0).astype(np.float32)


class Linear(L.Layer):
    """The Keras 3 guide's layer: weights from build(), Keras 3's add_weight by keyword."""

    def __init__(self, units: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape) -> None:
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                 trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}


class ScaledTanh(L.Layer):
    """Keras 2 style: add_weight(name=...), call with training and a numeric constant."""

    def build(self, input_shape) -> None:
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")
        super().build(input_shape)

    def call(self, x, training=None):
        return ops.tanh(x * self.scale) * 0.5 + ops.mean(x, axis=-1, keepdims=True) * 0.1


def _model() -> Sequential:
    backend.clear_session()
    model = Sequential([Input((4,)), Linear(5), ScaledTanh(), L.Dense(1, activation="sigmoid")])
    model.compile(SGD(1.0), "binary_crossentropy")
    return model


def test_a_custom_layer_computes_its_call() -> None:
    model = _model()
    w, b, scale, kernel, bias = model.get_weights()
    assert [weight.path for weight in model.weights][:3] == ["linear/variable", "linear/variable_1",
                                                            "scaled_tanh/scale"]
    hidden = X @ w + b
    hidden = np.tanh(hidden * scale) * 0.5 + hidden.mean(axis=-1, keepdims=True) * 0.1
    expected = 1 / (1 + np.exp(-(hidden @ kernel + bias)))
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_its_weights_train_with_exact_gradients() -> None:
    model = _model()
    start = model.get_weights()
    model.train_on_batch(X, Y)
    steps = [w0 - w1 for w0, w1 in zip(start, model.get_weights(), strict=True)]
    eps = 1e-2
    for index in (0, 2):  # Linear's kernel, ScaledTanh's scale
        numeric = numeric_weight_gradient(model_loss(model, X, Y), start, index, eps)
        np.testing.assert_allclose(steps[index], numeric, rtol=2e-2, atol=2e-4)


def test_saved_with_custom_objects(tmp_path: Path) -> None:
    model = _model()
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        with pytest.raises(ValueError, match="custom_objects"):
            load_model(tmp_path / name)
        loaded = load_model(tmp_path / name, custom_objects={"Linear": Linear, "ScaledTanh": ScaledTanh})
        np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
        assert loaded.layers[0].units == 5
    with custom_object_scope({"Linear": Linear, "ScaledTanh": ScaledTanh}):
        again = model_from_json(model.to_json())
    assert [type(layer).__name__ for layer in again.layers] == ["Linear", "ScaledTanh", "Dense"]


def test_functional_use_and_ops_on_sequences() -> None:
    class Attention(L.Layer):
        def build(self, input_shape) -> None:
            self.query = self.add_weight((input_shape[-1], 1), "glorot_uniform")

        def call(self, x):
            scores = ops.softmax(ops.squeeze(ops.matmul(x, self.query), axis=-1), axis=-1)
            return ops.sum(x * ops.expand_dims(scores, -1), axis=1)

    backend.clear_session()
    inputs = Input((5, 3))
    model = Model(inputs, Attention()(inputs))
    (query,) = model.get_weights()
    x = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    scores = (x @ query)[..., 0]
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), (x * scores[..., None]).sum(axis=1), rtol=1e-5,
                               atol=1e-6)


def test_python_control_flow_on_tensors_is_a_clear_error() -> None:
    class Branchy(L.Layer):
        def call(self, x):
            if ops.sum(x) > 0:
                return x
            return -x

    backend.clear_session()
    with pytest.raises(TypeError, match="Python control flow"):
        Sequential([Input((3,)), Branchy()])


def test_a_call_that_returns_no_tensor_names_the_layer() -> None:
    class Broken(L.Layer):
        def call(self, x):
            return np.zeros(3)

    with pytest.raises(TypeError, match="'broken'.*must return a tensor"):
        Sequential([Input((3,)), Broken()])


def test_keras_2_style_layer_with_backend_functions() -> None:
    from graphc.keras import backend as K

    class MyDense(L.Layer):
        def __init__(self, output_dim: int, **kwargs) -> None:
            self.output_dim = output_dim
            super().__init__(**kwargs)

        def build(self, input_shape) -> None:
            self.kernel = self.add_weight(name="kernel", shape=(input_shape[1], self.output_dim),
                                          initializer="uniform", trainable=True)
            super().build(input_shape)

        def call(self, x):
            return K.concatenate([K.dot(x, self.kernel), K.sum(x, axis=1, keepdims=True)])

    backend.clear_session()
    model = Sequential([Input((4,)), MyDense(2)])
    (kernel,) = model.get_weights()
    expected = np.concatenate([X @ kernel, X.sum(axis=1, keepdims=True)], axis=1)
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)


class TwoLayer(Model):
    """The Keras guide's subclassed model: layers made in __init__, used in call()."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hidden = L.Dense(6, activation="tanh")
        self.dropout = L.Dropout(0.5)
        self.out = L.Dense(1, activation="sigmoid")

    def call(self, inputs, training=None):
        return self.out(self.dropout(self.hidden(inputs), training=training))


def test_a_subclassed_model_is_built_from_its_call_on_first_data() -> None:
    backend.clear_session()
    model = TwoLayer(name="two")
    model.compile(SGD(0.5), "binary_crossentropy")
    assert model.predict(X, verbose=0).shape == (12, 1)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dropout", "Dense"]
    kernel, bias, out_kernel, out_bias = model.get_weights()
    expected = 1 / (1 + np.exp(-(np.tanh(X @ kernel + bias) @ out_kernel + out_bias)))
    np.testing.assert_allclose(model(X), expected, rtol=1e-5, atol=1e-6)
    twin = Sequential([Input((4,)), L.Dense(6, activation="tanh"), L.Dropout(0.5),
                       L.Dense(1, activation="sigmoid")])
    twin.compile(SGD(0.5), "binary_crossentropy")
    twin.set_weights(model.get_weights())
    backend.clear_session()
    first = model.evaluate(X, Y, verbose=0)
    assert first == pytest.approx(twin.evaluate(X, Y, verbose=0), rel=1e-6)
    model.fit(X, Y, epochs=3, verbose=0)
    assert model.evaluate(X, Y, verbose=0) < first


def test_a_subclassed_call_must_return_a_layer_output() -> None:
    class Doubled(Model):
        def call(self, inputs):
            return inputs * 2  # an operation on the symbolic input: a layer of the graph

    np.testing.assert_allclose(Doubled().predict(X, verbose=0), 2 * X, rtol=1e-6)

    class Identity(Model):
        def call(self, inputs):
            return np.zeros(3)

    with pytest.raises(TypeError, match="output of a layer call"):
        Identity().predict(X, verbose=0)
