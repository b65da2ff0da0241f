"""The classic Keras tutorial: a 12-8-1 network on the Pima Indians diabetes data.

Data: graphc/data/pima-indians-diabetes.csv (NIDDK via UCI; see graphc/data/ATTRIBUTION.md).
"""

from __future__ import annotations

import argparse

from graphc.frontend.datasets import load_pima
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed


def train(epochs: int = 150, verbose: int = 0, seed: int = 7) -> tuple[Sequential, float]:
    """The trained model and its training accuracy."""
    set_random_seed(seed)
    x, y = load_pima()
    model = Sequential()
    model.add(Dense(12, input_shape=(8,), activation="relu"))
    model.add(Dense(8, activation="relu"))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=10, verbose=verbose)
    _, accuracy = model.evaluate(x, y, verbose=0)
    return model, float(accuracy)


def run(epochs: int = 150, verbose: int = 0, seed: int = 7) -> float:
    return train(epochs, verbose, seed)[1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args()
    accuracy = run(args.epochs, args.verbose)
    print(f"Pima diabetes, 12-8-1 MLP, {args.epochs} epochs: accuracy {100 * accuracy:.2f}%")
