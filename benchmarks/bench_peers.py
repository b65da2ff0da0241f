"""graphc against PyTorch (eager), JAX (jit) and ONNX Runtime on the same models, medians and ratios.

Measures, for each framework: an MLP 784-512-512-10 training step (Adam, softmax cross-entropy)
at batch 128, inference at batch 1 and 128, a tiny 4-16-3 training step at batch 16, one epoch
of 60000 random samples at batch 128, and the first-call compile time (graphc cold and with a
warm compile cache, each in a fresh process). ONNX Runtime, an inference engine, has the
inference rows only. graphc runs in this process; the peers run one after another in child
processes of this one (benchmarks/.peers-venv, made by setup_peers.sh), with the same thread
count. Peers that are not installed are left out.

Each figure is the median of --rounds rounds (default 3), each round measuring graphc and then
every peer, so that the machine's drift over minutes falls on all of them alike.

With --models cnn (or both, the default), the CNN rows: the tutorial CNN (Conv2D 32 5x5 relu,
MaxPooling 2x2, Flatten, Dense 128 relu, Dense 10 softmax on 28x28x1; Adam) and the CIFAR-style CNN
of examples/cifar_style_cnn.py, training step at batch 64 and inference at batch 64 and 1, against
PyTorch eager and torch.compile, JAX jit and ONNX Runtime (peer_cnn.py), plus graphc's cold and
warm compile of the tutorial CNN's training step.

Run: .venv/bin/python benchmarks/bench_peers.py [--threads 2] [--repeats 50] [--rounds 3] [--models mlp cnn]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import MLP_SIZES, TINY_SIZES, machine_line, median_s, table  # noqa: E402

PEERS_PYTHON = HERE / ".peers-venv" / "bin" / "python"
PEERS = ("jax", "torch", "onnxruntime")
EPOCH, BATCH = 60000, 128
ROWS = [
    ("mlp_step", "MLP 784-512-512-10 training step, batch 128"),
    ("infer_1", "MLP inference, batch 1"),
    ("infer_128", "MLP inference, batch 128"),
    ("tiny_step", "tiny 4-16-3 training step, batch 16"),
    ("epoch", "one epoch, 60000 samples at batch 128"),
    ("compile_first", "first-call compile of the training step, empty cache"),
    ("compile_cold", "first-call compile of the training step (cold model)"),
    ("compile_warm", "first-call compile of the training step (warm cache)"),
]
CNN_PEERS = ("torch", "torch_compile", "jax", "onnxruntime")
CNN_BATCH = 64
CNN_ROWS = [
    ("tutorial_step", "tutorial CNN training step, batch 64"),
    ("tutorial_infer_64", "tutorial CNN inference, batch 64"),
    ("tutorial_infer_1", "tutorial CNN inference, batch 1"),
    ("cifar_step", "CIFAR-style CNN training step, batch 64"),
    ("cifar_infer_64", "CIFAR-style CNN inference, batch 64"),
    ("cifar_infer_1", "CIFAR-style CNN inference, batch 1"),
    ("cnn_compile_cold", "tutorial CNN first-call compile of the training step, empty cache"),
    ("cnn_compile_warm", "tutorial CNN first-call compile of the training step (warm cache)"),
]
CNN_COMPILE_SNIPPET = """
import sys, time
sys.path.insert(0, {here!r})
import graphc.keras, graphc.codegen, graphc.frontend.trainer
from bench_peers import build_cnn, cnn_data
start = time.perf_counter()
model = build_cnn("tutorial")
x, y = cnn_data("tutorial", 64)
model.train_on_batch(x, y)
print(time.perf_counter() - start)
"""

COMPILE_SNIPPET = """
import sys, time
sys.path.insert(0, {here!r})
import graphc.keras, graphc.codegen, graphc.frontend.trainer
from bench_peers import build, data
start = time.perf_counter()
model = build({sizes!r})
x, y = data(128, {sizes!r})
model.train_on_batch(x, y)
print(time.perf_counter() - start)
"""


def build(sizes: tuple[int, ...]):
    from graphc.keras import backend
    from graphc.keras.layers import Dense
    from graphc.keras.models import Sequential
    from graphc.keras.utils import set_random_seed

    backend.clear_session()
    set_random_seed(1)
    layers = [Dense(sizes[1], activation="relu", input_shape=(sizes[0],))]
    layers += [Dense(n, activation="relu") for n in sizes[2:-1]]
    layers.append(Dense(sizes[-1], activation="softmax"))
    model = Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def build_cnn(name: str):
    """The tutorial CNN (without its Dropout) or examples/cifar_style_cnn.py's model."""
    from graphc.keras import backend
    from graphc.keras.layers import (
        Activation,
        BatchNormalization,
        Conv2D,
        Dense,
        Flatten,
        GlobalAveragePooling2D,
        MaxPooling2D,
    )
    from graphc.keras.models import Sequential
    from graphc.keras.utils import set_random_seed

    backend.clear_session()
    set_random_seed(1)
    if name == "tutorial":
        layers = [
            Conv2D(32, (5, 5), activation="relu", input_shape=(28, 28, 1)),
            MaxPooling2D(),
            Flatten(),
            Dense(128, activation="relu"),
            Dense(10, activation="softmax"),
        ]
    else:
        layers = []
        for i, filters in enumerate((32, 32, 64)):
            extra = {"input_shape": (32, 32, 3)} if i == 0 else {}
            layers += [
                Conv2D(filters, 3, padding="same", **extra),
                BatchNormalization(momentum=0.9),
                Activation("relu"),
            ]
            if i:
                layers.append(MaxPooling2D())
        layers += [GlobalAveragePooling2D(), Dense(10, activation="softmax")]
    model = Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def cnn_data(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    shape = (28, 28, 1) if name == "tutorial" else (32, 32, 3)
    return rng.random((n, *shape), dtype=np.float32), rng.integers(0, 10, n).astype(np.float32)


def run_graphc_cnn(threads: int, repeats: int) -> dict[str, float]:
    from graphc_runtime import set_num_threads

    set_num_threads(threads)
    out: dict[str, float] = {}
    for name in ("tutorial", "cifar"):
        model = build_cnn(name)
        x, y = cnn_data(name, CNN_BATCH)
        model.train_on_batch(x, y)
        out[f"{name}_step"] = median_s(lambda model=model, x=x, y=y: model.train_on_batch(x, y), repeats)
        x1 = x[:1].copy()
        out[f"{name}_infer_64"] = median_s(lambda model=model, x=x: model.predict_on_batch(x), repeats)
        out[f"{name}_infer_1"] = median_s(lambda model=model, x1=x1: model.predict_on_batch(x1), repeats * 5)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, GRAPHC_CACHE_DIR=cache)
        code = CNN_COMPILE_SNIPPET.format(here=str(HERE))
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
                ).stdout.split()[-1]
            )
            for _ in range(2)
        ]
    out["cnn_compile_cold"], out["cnn_compile_warm"] = runs  # a new cache directory: nothing, then all
    return out


def data(n: int, sizes: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, sizes[0]), dtype=np.float32), rng.integers(0, sizes[-1], n).astype(np.float32)


def graphc_compile_times() -> dict[str, float]:
    """Build + compile + first step (imports excluded), in fresh processes sharing a new cache directory.

    first: nothing cached (graphc's model-independent GEMM and pool objects are compiled too);
    cold: a model never compiled before on a machine where graphc has run once (only those
    support objects are cached); warm: the same model compiled before by another process.
    """
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, GRAPHC_CACHE_DIR=cache)
        code = COMPILE_SNIPPET.format(here=str(HERE), sizes=MLP_SIZES)

        def timed() -> float:
            done = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
            )
            return float(done.stdout.split()[-1])

        first = timed()
        for entry in Path(cache).iterdir():
            if not entry.name.endswith((".gemm.o", ".pool.o")):
                entry.unlink()
        cold = timed()
        warm = timed()
    return {"compile_first": first, "compile_cold": cold, "compile_warm": warm}


def run_graphc(threads: int, repeats: int) -> dict[str, float]:
    from graphc_runtime import set_num_threads

    set_num_threads(threads)
    out: dict[str, float] = {}
    model = build(MLP_SIZES)
    x, y = data(BATCH, MLP_SIZES)
    model.train_on_batch(x, y)
    out["mlp_step"] = median_s(lambda: model.train_on_batch(x, y), repeats)
    x1 = x[:1].copy()
    out["infer_1"] = median_s(lambda: model.predict_on_batch(x1), repeats * 10)
    out["infer_128"] = median_s(lambda: model.predict_on_batch(x), repeats)
    tiny = build(TINY_SIZES)
    xt, yt = data(16, TINY_SIZES)
    tiny.train_on_batch(xt, yt)
    out["tiny_step"] = median_s(lambda: tiny.train_on_batch(xt, yt), repeats * 10)
    xe, ye = data(EPOCH, MLP_SIZES)
    model = build(MLP_SIZES)
    out["epoch"] = median_s(lambda: model.fit(xe, ye, batch_size=BATCH, epochs=1, verbose=0), 3, warmup=1)
    out.update(graphc_compile_times())
    return out


def run_peer(
    framework: str, threads: int, repeats: int, script: str = "peer_models.py"
) -> dict[str, float] | None:
    if not PEERS_PYTHON.is_file():
        return None
    env = dict(os.environ)
    if framework == "jax" and threads == 1:  # XLA's CPU client otherwise uses every core
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    env["OMP_NUM_THREADS"] = str(threads)
    command = [
        str(PEERS_PYTHON),
        str(HERE / script),
        framework,
        "--threads",
        str(threads),
        "--repeats",
        str(repeats),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        print(f"{framework}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median_of_rounds(rounds: list[dict[str, float]]) -> dict[str, float]:
    keys = {key for measured in rounds for key in measured}
    return {key: float(np.median([m[key] for m in rounds if key in m])) for key in keys}


def report(
    results: dict[str, dict[str, float]], peers: Sequence[str], rows: Sequence[tuple[str, str]]
) -> str:
    present = [p for p in peers if p in results]
    header = (
        ["measurement", "graphc (ms)"] + [f"{p} (ms)" for p in present] + [f"{p} / graphc" for p in present]
    )
    lines = []
    for key, label in rows:
        ours = results["graphc"].get(key)
        cells = [label, f"{1000 * ours:.3f}" if ours is not None else "-"]
        theirs = [results[p].get(key) for p in present]
        cells += [f"{1000 * t:.3f}" if t is not None else "-" for t in theirs]
        cells += [f"{t / ours:.2f}x" if t is not None and ours else "-" for t in theirs]
        lines.append(cells)
    return table(header, lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="graphc and every peer measured in turn this many times; medians of the rounds",
    )
    parser.add_argument("--models", nargs="+", choices=("mlp", "cnn"), default=["mlp", "cnn"])
    args = parser.parse_args()
    started = time.perf_counter()
    measured: dict[str, dict[str, list[dict[str, float]]]] = {"mlp": {}, "cnn": {}}
    for _ in range(args.rounds):  # the shared machine drifts by 10-20% over minutes: interleave
        if "mlp" in args.models:
            measured["mlp"].setdefault("graphc", []).append(run_graphc(args.threads, args.repeats))
            for peer in PEERS:
                result = run_peer(peer, args.threads, args.repeats)
                if result is not None:
                    measured["mlp"].setdefault(peer, []).append(result)
        if "cnn" in args.models:
            repeats = max(5, args.repeats // 2)
            measured["cnn"].setdefault("graphc", []).append(run_graphc_cnn(args.threads, repeats))
            for peer in CNN_PEERS:
                result = run_peer(peer, args.threads, repeats, "peer_cnn.py")
                if result is not None:
                    measured["cnn"].setdefault(peer, []).append(result)
    print(
        f"{machine_line()}, {args.threads} threads, medians of {args.rounds} rounds, "
        f"{time.perf_counter() - started:.0f} s"
    )
    for kind, peers, rows in (("mlp", PEERS, ROWS), ("cnn", CNN_PEERS, CNN_ROWS)):
        if measured[kind]:
            results = {name: _median_of_rounds(rounds) for name, rounds in measured[kind].items()}
            print(report(results, peers, rows))
            print()


if __name__ == "__main__":
    main()
