"""A softmax classifier on Fisher's iris data, with one-hot labels and a held-out test set.

Data: graphc/data/iris.csv (UCI, CC BY 4.0; see graphc/data/ATTRIBUTION.md).
"""

from __future__ import annotations

import argparse

import numpy as np

from graphc.frontend.datasets import load_iris
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed, to_categorical


def run(epochs: int = 200, verbose: int = 0, seed: int = 7) -> float:
    set_random_seed(seed)
    x, labels, _ = load_iris()
    order = np.random.default_rng(seed).permutation(len(x))
    x, labels = x[order], labels[order]
    x = (x - x[:100].mean(0)) / x[:100].std(0)
    y = to_categorical(labels, 3)
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x[:100], y[:100], epochs=epochs, batch_size=5, verbose=verbose)
    _, accuracy = model.evaluate(x[100:], y[100:], verbose=0)
    return float(accuracy)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args()
    accuracy = run(args.epochs, args.verbose)
    print(f"Iris 4-8-3 softmax, {args.epochs} epochs: test accuracy {100 * accuracy:.2f}%")
