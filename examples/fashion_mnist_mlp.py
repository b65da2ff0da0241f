"""An MLP 784-512-512-10 on Fashion-MNIST (60000 train / 10000 test images).

Data: the four IDX files of Fashion-MNIST (MIT, Zalando SE) in $GRAPHC_DATA_DIR/fashion-mnist/,
or the folder given with --data-dir.
"""

from __future__ import annotations

import argparse
import time

from graphc.keras.datasets import fashion_mnist
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed


def build_model() -> Sequential:
    model = Sequential([
        Dense(512, activation="relu", input_shape=(784,)),
        Dense(512, activation="relu"),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run(epochs: int = 5, verbose: int = 1, data_dir: str | None = None, seed: int = 7) -> tuple[float, float]:
    """Returns (test accuracy, seconds of training)."""
    set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(data_dir)
    x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
    x_test = x_test.reshape(-1, 784).astype("float32") / 255.0
    model = build_model()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=128, verbose=verbose)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return float(accuracy), seconds


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args()
    accuracy, seconds = run(args.epochs, args.verbose, args.data_dir)
    print(f"Fashion-MNIST MLP 784-512-512-10, {args.epochs} epochs in {seconds:.1f} s: "
          f"test accuracy {100 * accuracy:.2f}%")
