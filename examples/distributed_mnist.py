"""Horovod's Keras MNIST example, ported by changing the import: data-parallel training on MPI.

    .venv/bin/mpirun -n 2 .venv/bin/python examples/distributed_mnist.py            # one machine
    .venv/bin/mpirun -n 8 -f hostfile .venv/bin/python examples/distributed_mnist.py  # several (MPICH)

Each rank trains on its shard of the training images (every size-th image from its rank on); the
global batch is --batch-size, so each rank's batch is batch_size / size and the single-process
learning rate still fits. (Horovod's own recipe keeps the per-rank batch and multiplies the rate by
size(); graphc never scales it for you.) Fit averages the gradients across ranks at every step,
broadcasts rank 0's initial weights, prints the progress bar on rank 0 and writes the checkpoint
there only. Validation is sharded too: fit's validation logs are the means over every rank's
samples, so each rank validates on its share of the test set. `--model mlp --fashion` trains the
784-512-512-10 MLP on Fashion-MNIST instead.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np

import graphc.distribute as hvd
from graphc.keras import callbacks, optimizers
from graphc.keras.datasets import fashion_mnist, mnist
from graphc.keras.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed


def build_model(kind: str) -> Sequential:
    if kind == "cnn":
        return Sequential([
            Conv2D(32, (5, 5), input_shape=(28, 28, 1), activation="relu"),
            MaxPooling2D(pool_size=(2, 2)),
            Dropout(0.2),
            Flatten(),
            Dense(128, activation="relu"),
            Dense(10, activation="softmax"),
        ])
    return Sequential([
        Dense(512, activation="relu", input_shape=(784,)),
        Dense(512, activation="relu"),
        Dense(10, activation="softmax"),
    ])


def load(kind: str, fashion: bool, data_dir: str | None) -> tuple[tuple[np.ndarray, np.ndarray],
                                                                   tuple[np.ndarray, np.ndarray]]:
    if fashion:
        (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(data_dir)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the shipped 5,000-digit subset is fine here
            (x_train, y_train), (x_test, y_test) = mnist.load_data()
    shape = (-1, 28, 28, 1) if kind == "cnn" else (-1, 784)
    return ((x_train.reshape(shape).astype("float32") / 255, y_train),
            (x_test.reshape(shape).astype("float32") / 255, y_test))


def run(kind: str = "cnn", fashion: bool = False, epochs: int = 3, batch_size: int = 200,
        data_dir: str | None = None, checkpoint: str | None = None) -> tuple[float, float]:
    """Returns (test accuracy, seconds of training) on every rank."""
    hvd.init()
    set_random_seed(7 + hvd.rank())  # different draws per rank; fit starts every rank from rank 0's weights
    (x_train, y_train), (x_test, y_test) = load(kind, fashion, data_dir)
    x_train, y_train = x_train[hvd.rank()::hvd.size()], y_train[hvd.rank()::hvd.size()]
    model = build_model(kind)
    model.compile(optimizer=hvd.DistributedOptimizer(optimizers.Adam(0.001)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    checkpoint = checkpoint or os.path.join(tempfile.gettempdir(), f"distributed_{kind}.keras")
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=max(1, batch_size // hvd.size()), epochs=epochs,
              verbose=2 if hvd.rank() == 0 else 0,
              validation_data=(x_test[hvd.rank()::hvd.size()], y_test[hvd.rank()::hvd.size()]),
              callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0),
                         hvd.callbacks.MetricAverageCallback(),
                         callbacks.ModelCheckpoint(checkpoint)])
    seconds = time.perf_counter() - start
    accuracy = float(model.evaluate(x_test, y_test, verbose=0)[1])  # the ranks hold the same weights
    if hvd.rank() == 0:
        print(f"{hvd.size()} rank(s): test accuracy {accuracy:.4f} after {epochs} epochs in {seconds:.1f} s; "
              f"checkpoint {checkpoint}")
    return accuracy, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    parser.add_argument("--fashion", action="store_true", help="Fashion-MNIST instead of MNIST")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=200, help="the global batch, split over the ranks")
    parser.add_argument("--data-dir", default=None, help="folder with fashion-mnist/ (else $GRAPHC_DATA_DIR)")
    parser.add_argument("--checkpoint", default=None)
    args = parser.parse_args()
    run(args.model, args.fashion, args.epochs, args.batch_size, args.data_dir, args.checkpoint)


if __name__ == "__main__":
    main()
