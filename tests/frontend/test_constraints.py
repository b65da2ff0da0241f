"""Weight constraints follow KERAS_REFERENCE_LAYERS.md 6: the formulas, applied after each update
inside the compiled step and never at initialisation; saved and loaded with the model."""

from __future__ import annotations

import numpy as np
import pytest

from graphc import keras
from graphc.keras import constraints
from graphc.keras.layers import Conv2D, Dense, Embedding, Flatten
from graphc.keras.models import Sequential

RNG = np.random.default_rng(6)
EPS = 1e-7


def _norms(w: np.ndarray, axis) -> np.ndarray:
    return np.sqrt(np.sum(w * w, axis=axis, keepdims=True))


@pytest.mark.parametrize(
    "constraint, expected",
    [
        (constraints.MaxNorm(0.5), lambda w: w * np.clip(_norms(w, 0), 0, 0.5) / (EPS + _norms(w, 0))),
        (constraints.NonNeg(), lambda w: w * (w >= 0)),
        (constraints.UnitNorm(), lambda w: w / (EPS + _norms(w, 0))),
        (
            constraints.MinMaxNorm(0.2, 0.4, rate=0.5),
            lambda w: w * (0.5 * np.clip(_norms(w, 0), 0.2, 0.4) + 0.5 * _norms(w, 0)) / (EPS + _norms(w, 0)),
        ),
    ],
    ids=["max_norm", "non_neg", "unit_norm", "min_max_norm"],
)
def test_applied_after_each_step_never_at_initialisation(constraint, expected) -> None:
    layer = Dense(3, kernel_constraint=constraint, input_shape=(4,))
    model = Sequential([layer])
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "mse")
    kernel = RNG.normal(size=(4, 3)).astype(np.float32) * 2
    layer.set_weights([kernel, np.zeros(3, np.float32)])
    np.testing.assert_array_equal(model.get_weights()[0], kernel)  # not applied when set
    model.train_on_batch(np.ones((2, 4)), np.zeros((2, 3)))
    np.testing.assert_allclose(model.get_weights()[0], expected(kernel), rtol=1e-5, atol=1e-6)


def test_conv_filters_keep_their_norm_under_training_and_configs_round_trip() -> None:
    """The CIFAR tutorial's Conv2D(..., kernel_constraint=maxnorm(3)), with per-filter norms."""
    model = Sequential(
        [
            Conv2D(
                4,
                3,
                input_shape=(6, 6, 2),
                kernel_constraint=constraints.maxnorm(3, [0, 1, 2]),
                bias_constraint="non_neg",
            ),
            Flatten(),
            Dense(2, kernel_constraint=constraints.max_norm(m=1.0)),
        ]
    )
    model.compile(keras.optimizers.SGD(learning_rate=1.0), "mse")
    x, y = RNG.normal(size=(8, 6, 6, 2)) * 10, RNG.normal(size=(8, 2)) * 10
    for _ in range(3):
        model.train_on_batch(x, y)
    kernel, bias, dense, _ = model.get_weights()
    assert np.all(_norms(kernel, (0, 1, 2)) <= 3 + 1e-4) and np.all(bias >= 0)
    assert np.all(_norms(dense, 0) <= 1 + 1e-4)
    config = model.get_config()["layers"][1]["config"]
    assert config["kernel_constraint"]["class_name"] == "MaxNorm"
    assert config["kernel_constraint"]["config"] == {"max_value": 3.0, "axis": [0, 1, 2]}
    clone = keras.models.model_from_json(model.to_json())
    assert isinstance(clone.layers[0].kernel_constraint, constraints.MaxNorm)


def test_embedding_and_legacy_spellings() -> None:
    with pytest.warns(DeprecationWarning, match="W_constraint"):
        dense = Dense(2, W_constraint=constraints.nonneg(), input_shape=(3,))
    assert isinstance(dense.kernel_constraint, constraints.NonNeg)
    embedding = Embedding(5, 2, embeddings_constraint="unit_norm")
    assert isinstance(embedding.embeddings_constraint, constraints.UnitNorm)
    with pytest.raises(ValueError, match="unknown constraint"):
        Dense(2, kernel_constraint="sparse")
