"""The tutorials' grid search: KerasClassifier over epochs, batch size and optimizer on the Pima
diabetes data, GridSearchCV with 3-fold cross-validation on two worker processes (n_jobs=2).

Needs scikit-learn (pip install 'graphc[sklearn]'); the data ships with graphc.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.model_selection import GridSearchCV

from graphc.frontend.datasets import load_pima
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential
from graphc.keras.wrappers.scikit_learn import KerasClassifier

GRID = {"optimizer": ["rmsprop", "adam"], "epochs": [50, 100], "batch_size": [10, 20]}


def create_model(optimizer: str = "adam") -> Sequential:
    model = Sequential()
    model.add(Dense(12, input_shape=(8,), activation="relu"))
    model.add(Dense(8, activation="relu"))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


def run(grid: dict | None = None, n_jobs: int = 2, seed: int = 7) -> tuple[float, dict, float]:
    """Returns (best mean cross-validated accuracy, its parameters, seconds)."""
    np.random.seed(seed)
    x, y = load_pima()
    model = KerasClassifier(build_fn=create_model, verbose=0)
    search = GridSearchCV(estimator=model, param_grid=grid or GRID, n_jobs=n_jobs, cv=3)
    start = time.perf_counter()
    result = search.fit(x, y)
    seconds = time.perf_counter() - start
    for mean, std, params in zip(
        result.cv_results_["mean_test_score"],
        result.cv_results_["std_test_score"],
        result.cv_results_["params"],
        strict=True,
    ):
        print(f"{mean:.4f} ({std:.4f}) with: {params}")
    return float(result.best_score_), dict(result.best_params_), seconds


if __name__ == "__main__":
    best, params, seconds = run()
    candidates = int(np.prod([len(values) for values in GRID.values()]))
    print(f"Best: {best:.4f} using {params} ({candidates} candidates x 3 folds in {seconds:.1f} s)")
