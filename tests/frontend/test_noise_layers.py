"""GaussianNoise, GaussianDropout and AlphaDropout: the identity at inference; in training, noise
with Keras's moments (checked on many draws), new noise per step; the inverse-CDF normal sampler
against the exact quantiles."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from graphc.frontend.layers.noise import standard_normal
from graphc.interpreter import evaluate
from graphc.ir.graph import Graph
from graphc.ir.types import TensorType
from graphc.keras import Input, Model, backend
from graphc.keras import layers as L

X = np.full((400, 50), 2.0, dtype=np.float32)


def _model(layer: object) -> Model:
    backend.clear_session()
    inputs = Input((50,))
    return Model(inputs, layer(inputs))


def test_the_normal_sampler_follows_the_inverse_normal_cdf() -> None:
    graph = Graph("normal")
    u = graph.input("u", TensorType((None,)))
    graph.outputs["z"] = standard_normal(u)
    probabilities = np.array([1e-6, 0.001, 0.02, 0.0243, 0.3, 0.5, 0.7, 0.9758, 0.99, 0.999999],
                             dtype=np.float32)
    got = evaluate(graph, {"u": probabilities})[0]["z"]
    want = [NormalDist().inv_cdf(float(p)) for p in probabilities]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)  # float32 evaluation of the rational form


@pytest.mark.parametrize("layer, mean, std", [
    (lambda: L.GaussianNoise(0.5), 2.0, 0.5),
    (lambda: L.GaussianDropout(0.2), 2.0, 2.0 * math.sqrt(0.2 / 0.8)),
])
def test_gaussian_layers_draw_noise_with_keras_moments(layer: object, mean: float, std: float) -> None:
    model = _model(layer())
    noisy = np.asarray(model(X, training=True))
    assert abs(float(noisy.mean()) - mean) < 0.02
    assert abs(float(noisy.std()) - std) < 0.02
    assert not np.array_equal(np.asarray(model(X, training=True)), noisy)
    np.testing.assert_array_equal(model.predict(X, verbose=0), X)


def test_alpha_dropout_keeps_selu_statistics() -> None:
    backend.clear_session()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 50)).astype(np.float32)  # zero mean, unit variance, as SELU keeps them
    model = _model(L.AlphaDropout(0.1))
    dropped = np.asarray(model(x, training=True))
    assert abs(float(dropped.mean())) < 0.03 and abs(float(dropped.std()) - 1.0) < 0.03
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - 0.1) * (1 + 0.1 * alpha_p ** 2)) ** -0.5
    dropped_value = a * alpha_p - a * alpha_p * 0.1
    assert abs(float(np.isclose(dropped, dropped_value, atol=1e-5).mean()) - 0.1) < 0.01
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="`stddev` must be a number >= 0"):
        L.GaussianNoise(-1.0)
    with pytest.raises(ValueError, match=r"`rate` must be a number in \[0, 1\)"):
        L.GaussianDropout(1.0)
