"""The tutorials' MNIST CNN: Conv2D(32, 5x5, relu), MaxPooling2D(2x2), Dropout(0.2), Flatten,
Dense(128, relu), Dense(10, softmax); Adam, batch 200.

Data: `keras.datasets.mnist.load_data()`: the full MNIST when Keras's mnist.npz or the IDX files are
in $GRAPHC_DATA_DIR (or ~/.keras/datasets), else the 5,000 training digits shipped with graphc
(tested on the full 10,000-image test set either way). `--fashion` trains the same network on
Fashion-MNIST from $GRAPHC_DATA_DIR/fashion-mnist/ or --data-dir.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from graphc.keras.datasets import fashion_mnist, mnist
from graphc.keras.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed, to_categorical


def build_model() -> Sequential:
    model = Sequential(
        [
            Conv2D(32, (5, 5), input_shape=(28, 28, 1), activation="relu"),
            MaxPooling2D(pool_size=(2, 2)),
            Dropout(0.2),
            Flatten(),
            Dense(128, activation="relu"),
            Dense(10, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def load(
    fashion: bool, data_dir: str | None
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    if fashion:
        return fashion_mnist.load_data(data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the shipped subset is the expected case here
        return mnist.load_data()


def run(
    epochs: int = 10, verbose: int = 2, fashion: bool = False, data_dir: str | None = None, seed: int = 7
) -> tuple[float, float, int]:
    """Returns (test accuracy, seconds of training, training images)."""
    set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load(fashion, data_dir)
    x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255
    x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255
    model = build_model()
    start = time.perf_counter()
    model.fit(
        x_train,
        to_categorical(y_train),
        validation_data=(x_test, to_categorical(y_test)),
        epochs=epochs,
        batch_size=200,
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, to_categorical(y_test), verbose=0)
    return float(accuracy), seconds, len(x_train)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--fashion", action="store_true")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args()
    accuracy, seconds, images = run(args.epochs, args.verbose, args.fashion, args.data_dir)
    print(
        f"{'Fashion-MNIST' if args.fashion else 'MNIST'} CNN, {images} training images, {args.epochs} epochs "
        f"in {seconds:.1f} s: test accuracy {100 * accuracy:.2f}%"
    )
