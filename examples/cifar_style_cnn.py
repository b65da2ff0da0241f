"""A CIFAR-style CNN with BatchNormalization and GlobalAveragePooling2D, trained on augmented batches
from ImageDataGenerator.

Data: CIFAR-10 from Keras's cache layout (`~/.keras/datasets/cifar-10-batches-py`, or under
$GRAPHC_DATA_DIR) when it is there. This machine has no copy, so by default the script makes a
synthetic stand-in of the same shape and says so: 32x32x3 images of ten classes, each a grating of
its own orientation and colour under noise and a random phase, so the classes are learnable
but only through spatial features.

BatchNormalization uses momentum=0.9: with Keras's default 0.99 the moving statistics need thousands
of steps to reach the batch statistics, and a few hundred steps leave inference far from training.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from graphc.keras.datasets import cifar10
from graphc.keras.layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    Dense,
    GlobalAveragePooling2D,
    MaxPooling2D,
)
from graphc.keras.models import Sequential
from graphc.keras.preprocessing.image import ImageDataGenerator
from graphc.keras.utils import set_random_seed, to_categorical


def synthetic(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ten classes of 32x32x3 gratings (orientation and colour per class), noisy, random phase."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    rows, cols = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    angle = labels[:, None, None] * np.pi / 10
    phase = rng.uniform(0, 2 * np.pi, count)[:, None, None]
    wave = np.sin((np.cos(angle) * rows + np.sin(angle) * cols) * 0.8 + phase)
    colours = np.stack(
        [np.cos(np.arange(10) * 0.6), np.sin(np.arange(10) * 0.9), np.cos(np.arange(10) * 1.7)], 1
    )
    images = 0.5 + 0.35 * wave[..., None] * (0.6 + 0.4 * colours[labels][:, None, None, :])
    images += rng.normal(0, 0.15, images.shape)
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), labels.astype(np.uint8).reshape(-1, 1)


def load(
    train: int, test: int, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str]:
    try:
        (x_train, y_train), (x_test, y_test) = cifar10.load_data()
        return (x_train[:train], y_train[:train]), (x_test[:test], y_test[:test]), "CIFAR-10"
    except FileNotFoundError:
        return synthetic(train, seed), synthetic(test, seed + 1), "synthetic stand-in (no CIFAR-10 here)"


def build_model() -> Sequential:
    model = Sequential()
    model.add(Conv2D(32, 3, padding="same", input_shape=(32, 32, 3)))
    model.add(BatchNormalization(momentum=0.9))
    model.add(Activation("relu"))
    model.add(Conv2D(32, 3, padding="same"))
    model.add(BatchNormalization(momentum=0.9))
    model.add(Activation("relu"))
    model.add(MaxPooling2D())
    model.add(Conv2D(64, 3, padding="same"))
    model.add(BatchNormalization(momentum=0.9))
    model.add(Activation("relu"))
    model.add(MaxPooling2D())
    model.add(GlobalAveragePooling2D())
    model.add(Dense(10, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def run(
    epochs: int = 6, train: int = 3000, test: int = 1000, verbose: int = 2, seed: int = 7
) -> tuple[float, float, str]:
    """Returns (test accuracy, seconds of training, the data's name)."""
    set_random_seed(seed)
    np.random.seed(seed)
    (x_train, y_train), (x_test, y_test), source = load(train, test, seed)
    x_train, x_test = x_train.astype("float32") / 255, x_test.astype("float32") / 255
    augment = ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1, horizontal_flip=True)
    model = build_model()
    start = time.perf_counter()
    model.fit(
        augment.flow(x_train, to_categorical(y_train, 10), batch_size=64, seed=seed),
        validation_data=(x_test, to_categorical(y_test, 10)),
        epochs=epochs,
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, to_categorical(y_test, 10), verbose=0)
    return float(accuracy), seconds, source


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args()
    accuracy, seconds, source = run(args.epochs, args.train, verbose=args.verbose)
    print(
        f"CIFAR-style CNN on {source}, {args.train} training images, {args.epochs} epochs in "
        f"{seconds:.1f} s: test accuracy {100 * accuracy:.2f}%"
    )
