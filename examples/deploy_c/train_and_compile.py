"""Train a small MLP on the shipped MNIST subset, save it, and compile it for deployment.

Writes into the output folder (default: ./build): mnist.h5 (the Keras model file), the AOT
build of it (libmnist.so, mnist.o, mnist.h, mnist.manifest.json) and the first test images
and labels as uncompressed IDX files for classify.c, which needs nothing but libc.

    python train_and_compile.py && make -C . run      (or see README.md)
"""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

import numpy as np

from graphc.build.aot import compile_model
from graphc.frontend.datasets import load_mnist_subset
from graphc.keras.layers import Dense, Flatten
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed


def build_model() -> Sequential:
    model = Sequential([
        Flatten(input_shape=(28, 28)),
        Dense(128, activation="relu"),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed IDX file of unsigned bytes (type code 0x08)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def main(out_dir: str | Path = "build", epochs: int = 3, images: int = 100, target: str = "host",
         verbose: int = 1, seed: int = 1) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_mnist_subset()
    model = build_model()
    model.fit(x_train / np.float32(255), y_train, epochs=epochs, batch_size=64, verbose=verbose)
    _, accuracy = model.evaluate(x_test / np.float32(255), y_test, verbose=0)
    print(f"test accuracy of the trained model: {100 * accuracy:.2f}%")
    model.save(out / "mnist.h5")
    build = compile_model(out / "mnist.h5", out, name="mnist", target=target)
    write_idx(out / "test-images-idx3-ubyte", x_test[:images])
    write_idx(out / "test-labels-idx1-ubyte", y_test[:images])
    print(f"compiled for {build.manifest['target']['cpu']}: {build.library} "
          f"({build.library.stat().st_size} bytes)")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default="build")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=100, help="test images written for classify.c")
    parser.add_argument("--target", default="host", help="host, generic, x86-64-v3 or an LLVM CPU name")
    args = parser.parse_args()
    main(args.out_dir, args.epochs, args.images, args.target)
