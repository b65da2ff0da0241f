"""Bad input raises a clear Python error before any native code runs."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.keras import backend, optimizers
from graphc.keras.layers import Dense, Dropout
from graphc.keras.models import Sequential


@pytest.fixture()
def model():
    backend.clear_session()
    m = Sequential([Dense(4, input_shape=(8,), activation="relu"), Dense(1, activation="sigmoid")])
    m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return m


def test_wrong_feature_count_names_the_layer(model):
    with pytest.raises(ValueError, match=r'layer "dense".*expected axis -1.*value 8.*\(None, 7\)'):
        model.fit(np.zeros((4, 7)), np.zeros(4), verbose=0)
    with pytest.raises(ValueError, match="dense"):
        model.predict(np.zeros((4, 7)), verbose=0)


def test_wrong_label_shape_names_the_loss(model):
    with pytest.raises(ValueError, match=r"binary_crossentropy.*\(None, 1\).*\(None, 3\)"):
        model.fit(np.zeros((4, 8)), np.zeros((4, 3)), verbose=0)


def test_mismatched_sample_counts(model):
    with pytest.raises(ValueError, match="x sizes: 4, y sizes: 3"):
        model.fit(np.zeros((4, 8)), np.zeros(3), verbose=0)


def test_non_numeric_arrays(model):
    with pytest.raises(TypeError, match="`x` must be a numeric array"):
        model.fit(np.array([["a"] * 8] * 2), np.zeros(2), verbose=0)


def test_nan_learning_rate_is_refused(model):
    with pytest.raises(ValueError, match="learning_rate"):
        model.optimizer.learning_rate = float("nan")
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.Adam(learning_rate=float("nan"))


@pytest.mark.parametrize("kwargs, match", [
    ({"loss": "no_such_loss"}, "no_such_loss"),
    ({"loss": "mse", "optimizer": "no_such_optimizer"}, "no_such_optimizer"),
    ({"loss": "mse", "metrics": ["no_such_metric"]}, "no_such_metric"),
])
def test_unknown_names_in_compile(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        model.compile(**kwargs)


@pytest.mark.parametrize("make, match", [
    (lambda: Dense(4, activation="no_such_activation"), "no_such_activation"),
    (lambda: Dense(0), "units"),
    (lambda: Dense(4, kernel_initializer="no_such_init"), "no_such_init"),
    (lambda: Dense(4, colour="red"), "colour"),
    (lambda: Dropout(1.5), "rate"),
])
def test_bad_layer_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_training_before_compile_is_refused():
    backend.clear_session()
    m = Sequential([Dense(1, input_shape=(2,))])
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(np.zeros((2, 2)), np.zeros(2), verbose=0)


def test_bad_fit_arguments(model):
    x, y = np.zeros((4, 8)), np.zeros(4)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(TypeError, match="unknown_argument"):
        model.fit(x, y, unknown_argument=1, verbose=0)
