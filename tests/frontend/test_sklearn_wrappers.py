"""scikit-learn wrappers (KERAS_REFERENCE_LAYERS.md 9): Keras 2's KerasClassifier/KerasRegressor and
Keras 3's SKLearnClassifier/SKLearnRegressor, in cross-validation, grid search with a process pool,
pipelines, clone and pickle."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from graphc.frontend.datasets import load_iris, load_pima  # noqa: E402
from graphc.keras.layers import Dense  # noqa: E402
from graphc.keras.models import Sequential  # noqa: E402
from graphc.keras.wrappers import SKLearnClassifier, SKLearnRegressor  # noqa: E402
from graphc.keras.wrappers.scikit_learn import KerasClassifier, KerasRegressor  # noqa: E402


def pima_model(optimizer: str = "adam", units: int = 12) -> Sequential:
    model = Sequential([Dense(units, input_shape=(8,), activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


def iris_model() -> Sequential:
    model = Sequential([Dense(8, input_shape=(4,), activation="relu"), Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def regression_model() -> Sequential:
    model = Sequential([Dense(8, input_shape=(3,), activation="relu"), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    return model


def test_cross_validation_and_a_grid_search_in_worker_processes() -> None:
    x, y = load_pima()
    estimator = KerasClassifier(build_fn=pima_model, epochs=5, batch_size=32, verbose=0)
    scores = cross_val_score(estimator, x, y, cv=StratifiedKFold(3, shuffle=True, random_state=7))
    assert scores.shape == (3,) and np.all((scores > 0.3) & (scores <= 1))
    grid = GridSearchCV(estimator, {"optimizer": ["sgd", "adam"], "units": [4]}, cv=2, n_jobs=2)
    grid.fit(x, y)
    assert grid.best_params_["optimizer"] in ("sgd", "adam") and grid.best_estimator_.predict(
        x[:3]
    ).shape == (3, 1)


def test_labels_probabilities_params_clone_and_pickle() -> None:
    x, y, _ = load_iris()
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    estimator = KerasClassifier(build_fn=iris_model, epochs=30, batch_size=16, verbose=0)
    estimator.fit(x, names)
    assert list(estimator.classes_) == ["setosa", "versicolor", "virginica"]
    assert set(estimator.predict(x)) <= set(estimator.classes_) and estimator.score(x, names) > 0.5
    copy = clone(estimator)
    assert copy.get_params() == estimator.get_params() and not hasattr(copy, "model")
    copy.set_params(epochs=2)
    assert copy.sk_params["epochs"] == 2
    with pytest.raises(ValueError, match="not a legal parameter"):
        KerasClassifier(build_fn=iris_model, learning_speed=3)
    restored = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(restored.predict(x), estimator.predict(x))
    binary = KerasClassifier(build_fn=pima_model, epochs=1, verbose=0)
    px, py = load_pima()
    binary.fit(px, py)
    probabilities = binary.predict_proba(px[:4])
    assert probabilities.shape == (4, 2) and np.allclose(probabilities.sum(axis=1), 1)


def test_regressor_in_a_pipeline_scores_minus_the_loss() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 3)) * [1, 10, 100]
    y = x @ [1.0, 0.1, 0.01]
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("net", KerasRegressor(build_fn=regression_model, epochs=5, batch_size=8, verbose=0)),
        ]
    )
    pipeline.fit(x, y)
    net = pipeline.named_steps["net"]
    scaled = pipeline.named_steps["scale"].transform(x)
    assert pipeline.score(x, y) == pytest.approx(-net.model.evaluate(scaled, y, verbose=0), rel=1e-5)
    assert pipeline.predict(x).shape == (60,)


def test_keras_3_wrappers() -> None:
    seen = {}

    def build(X, y, units=6):  # noqa: N803 - Keras 3 calls model(X=..., y=...)
        seen["y"] = y.shape
        model = Sequential(
            [
                Dense(units, input_shape=(X.shape[1],), activation="relu"),
                Dense(y.shape[1], activation="softmax"),
            ]
        )
        model.compile("adam", "categorical_crossentropy")
        return model

    px, py = load_pima()
    classifier = SKLearnClassifier(build, model_kwargs={"units": 4}, fit_kwargs={"epochs": 2, "verbose": 0})
    assert classifier.fit(px, py) is classifier and seen["y"] == (len(py), 2)  # one-hot even for 2 classes
    assert set(classifier.predict(px)) <= {0.0, 1.0} and 0 <= classifier.score(px, py) <= 1
    assert sorted(classifier.get_params()) == ["fit_kwargs", "model", "model_kwargs", "warm_start"]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 3))
    regressor = SKLearnRegressor(regression_model(), fit_kwargs={"epochs": 3, "verbose": 0}).fit(
        x, x.sum(axis=1)
    )
    assert regressor.predict(x).shape == (40,) and regressor.score(x, x.sum(axis=1)) <= 1
