"""Bad data is refused at the boundary with the value and its position, before any native step."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.frontend.data import check_labels
from graphc.keras import backend
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed

BAD_CLASS_LABELS = [10.0, -1.0, np.nan, np.inf, -np.inf, 2.5, 1e9]


@pytest.fixture(scope="module")
def classifier() -> Sequential:
    backend.clear_session()
    set_random_seed(0)
    model = Sequential([Dense(10, activation="softmax", input_shape=(4,))])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    return x, np.arange(n, dtype=np.float32) % 10


@pytest.mark.parametrize("bad", BAD_CLASS_LABELS)
@pytest.mark.parametrize("entry", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_sparse_labels_out_of_range_are_refused_with_value_and_position(classifier, bad, entry) -> None:
    x, y = _data()
    y[7] = bad
    weights = classifier.get_weights()
    iterations = classifier.optimizer.iterations
    call = {"fit": lambda: classifier.fit(x, y, verbose=0),
            "evaluate": lambda: classifier.evaluate(x, y, verbose=0),
            "train_on_batch": lambda: classifier.train_on_batch(x, y),
            "test_on_batch": lambda: classifier.test_on_batch(x, y)}[entry]
    with pytest.raises(ValueError, match=r"position 7") as info:
        call()
    assert "[0, 10)" in str(info.value) and "sparse_categorical_crossentropy" in str(info.value)
    assert classifier.optimizer.iterations == iterations
    for before, after in zip(weights, classifier.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_a_valid_label_set_trains(classifier) -> None:
    x, y = _data()
    classifier.fit(x, y, verbose=0, epochs=1)
    assert np.isfinite(classifier.evaluate(x, y, verbose=0)).all()


def test_validation_labels_are_checked_too(classifier) -> None:
    x, y = _data()
    y_val = y.copy()
    y_val[3] = 10
    with pytest.raises(ValueError, match="position 3"):
        classifier.fit(x, y, validation_data=(x, y_val), verbose=0)


def test_non_finite_labels_are_refused_for_any_loss() -> None:
    backend.clear_session()
    model = Sequential([Dense(1, input_shape=(4,))])
    model.compile(optimizer="sgd", loss="mse")
    x, _ = _data()
    y = np.zeros((len(x), 1), np.float32)
    y[5, 0] = np.nan
    with pytest.raises(ValueError, match=r"finite.*position \(5, 0\)"):
        model.fit(x, y, verbose=0)


@pytest.mark.parametrize("entry", ["fit", "evaluate"])
def test_zero_samples_are_refused(classifier, entry) -> None:
    x = np.zeros((0, 4), np.float32)
    y = np.zeros((0,), np.float32)
    with pytest.raises(ValueError, match="0 samples"):
        getattr(classifier, entry)(x, y, verbose=0)


@pytest.mark.parametrize("which", ["x", "y"])
def test_complex_data_is_refused_rather_than_losing_its_imaginary_part(classifier, which) -> None:
    x, y = _data()
    data = {"x": x, "y": y}
    data[which] = data[which] + 1j
    with pytest.raises(TypeError, match=f"`{which}` must be real"):
        classifier.fit(data["x"], data["y"], verbose=0)


def test_check_labels_counts_every_bad_label() -> None:
    y = np.array([0, 1, 3, -2, 1], np.float32)
    with pytest.raises(ValueError, match=r"value of 3 at position 2 \(2 bad label"):
        check_labels(y, "sparse_categorical_crossentropy", 3)
    check_labels(np.array([0, 2, 1], np.float32), "sparse_categorical_crossentropy", 3)
