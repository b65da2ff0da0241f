"""Regression with mean squared error on the Boston housing data (Keras's 80/20 split, seed 113).

Data: graphc/data/boston-housing.csv (StatLib/UCI; see graphc/data/ATTRIBUTION.md).
"""

from __future__ import annotations

import argparse

from graphc.frontend.datasets import load_boston_housing
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed


def run(epochs: int = 100, verbose: int = 0, seed: int = 7) -> tuple[float, float]:
    """Returns (test mse, test mae) in (k$)^2 and k$."""
    set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_boston_housing()
    mean, std = x_train.mean(0), x_train.std(0)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    model = Sequential([
        Dense(64, activation="relu", input_shape=(13,)),
        Dense(64, activation="relu"),
        Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=16, verbose=verbose)
    mse, mae = model.evaluate(x_test, y_test, verbose=0)
    return float(mse), float(mae)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args()
    mse, mae = run(args.epochs, args.verbose)
    print(f"Boston housing 13-64-64-1, {args.epochs} epochs: test mse {mse:.2f}, test mae {mae:.2f} k$")
