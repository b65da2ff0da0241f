"""The main job: train real models on real data with compiled code and report their accuracy.

Runs the Pima diabetes tutorial network (data shipped with graphc), the tutorials' MNIST CNN on
the MNIST digits shipped with graphc, the same CNN data-parallel on 2 MPI ranks (when mpirun is
installed: `pip install 'graphc[mpi]'`), then the Fashion-MNIST MLP when the data folder is
available ($GRAPHC_DATA_DIR or --data-dir).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fashion_mnist_mlp  # noqa: E402
import mnist_cnn  # noqa: E402
import pima_diabetes  # noqa: E402

from graphc.build import stage_graph  # noqa: E402
from graphc.build.aot import compile_model  # noqa: E402
from graphc.export import graph_to_dot, has_dot, render  # noqa: E402
from graphc.keras.utils import plot_model  # noqa: E402


def write_artifacts(model: object, out: Path) -> None:
    """The optimized training graph as a diagram, and the model as a C library with no Python."""
    training = graph_to_dot(stage_graph(model, "optimized"), title="pima train_step (O2)")
    diagram = render(training, out / ("pima_train_step.svg" if has_dot() else "pima_train_step.dot"))
    plot_model(model, to_file=str(out / ("pima_model.svg" if has_dot() else "pima_model.dot")),
               show_shapes=True)
    build = compile_model(model, out / "pima_aot", name="pima")
    print(f"wrote {diagram} and the AOT library {build.library} ({build.library.stat().st_size:,} bytes) "
          f"with its header {build.header.name}")


def run_distributed(epochs: int, out: Path) -> None:
    """examples/distributed_mnist.py on 2 ranks of this machine (rank 0 prints its result line)."""
    search = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    mpirun = shutil.which("mpirun", path=search)
    if mpirun is None:
        print("data-parallel MNIST CNN skipped: no mpirun (pip install 'graphc[mpi]')")
        return
    script = Path(__file__).resolve().parent / "distributed_mnist.py"
    checkpoint = str(out / "distributed_cnn.keras")
    done = subprocess.run([mpirun, "-n", "2", sys.executable, str(script), "--epochs", str(epochs),
                           "--checkpoint", checkpoint],
                          capture_output=True, text=True, timeout=900, check=False)
    lines = [line for line in done.stdout.splitlines() if "rank(s): test accuracy" in line]
    if done.returncode != 0 or not lines:
        print(f"data-parallel MNIST CNN failed:\n{done.stderr[-2000:]}")
        sys.exit(1)
    print(f"MNIST CNN data-parallel with graphc.distribute, {lines[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHC_DATA_DIR"))
    parser.add_argument("--epochs", type=int, default=5, help="Fashion-MNIST epochs")
    parser.add_argument("--cnn-epochs", type=int, default=3, help="MNIST CNN epochs")
    parser.add_argument("--out", default="out", help="folder for the diagrams and the AOT library")
    args = parser.parse_args()

    start = time.perf_counter()
    model, accuracy = pima_diabetes.train(epochs=150, verbose=0)
    print(f"Pima diabetes 12-8-1 (150 epochs, batch 10): training accuracy {100 * accuracy:.2f}% "
          f"in {time.perf_counter() - start:.1f} s")
    write_artifacts(model, Path(args.out))

    accuracy, seconds, images = mnist_cnn.run(epochs=args.cnn_epochs, verbose=0)
    print(f"MNIST CNN Conv2D(32, 5x5)-MaxPooling-Dropout-Dense(128)-Dense(10) ({args.cnn_epochs} epochs, "
          f"batch 200, {images} training digits): test accuracy {100 * accuracy:.2f}%, "
          f"training {seconds:.1f} s")

    run_distributed(args.cnn_epochs, Path(args.out).resolve())

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
