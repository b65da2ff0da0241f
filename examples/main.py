"""The main job: train real models on real data with compiled code and report their accuracy.

Runs the Pima diabetes tutorial network (data shipped with graphc), then the Fashion-MNIST
MLP when the data folder is available ($GRAPHC_DATA_DIR or --data-dir).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fashion_mnist_mlp  # noqa: E402
import pima_diabetes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHC_DATA_DIR"))
    parser.add_argument("--epochs", type=int, default=5, help="Fashion-MNIST epochs")
    args = parser.parse_args()

    start = time.perf_counter()
    accuracy = pima_diabetes.run(epochs=150, verbose=0)
    print(f"Pima diabetes 12-8-1 (150 epochs, batch 10): training accuracy {100 * accuracy:.2f}% "
          f"in {time.perf_counter() - start:.1f} s")

    fashion_dir = Path(args.data_dir or "") / "fashion-mnist"
    if args.data_dir and fashion_dir.is_dir():
        accuracy, seconds = fashion_mnist_mlp.run(epochs=args.epochs, verbose=1, data_dir=args.data_dir)
        print(f"Fashion-MNIST MLP 784-512-512-10 ({args.epochs} epochs, batch 128): test accuracy "
              f"{100 * accuracy:.2f}%, training {seconds:.1f} s")
    else:
        print(f"Fashion-MNIST skipped: no folder {fashion_dir} (set GRAPHC_DATA_DIR or --data-dir to the "
              "folder holding fashion-mnist/)")


if __name__ == "__main__":
    main()
