"""Embedding(5000, 32) + LSTM(100) + Dense(1, sigmoid), Adam: by default the tutorial's IMDB LSTM
(500-step reviews, batch 64); `--steps 200 --batch 32` is the sequence-models issue's row. graphc's
training step and inference with the built-in LSTM (its step written in code, run as a scan) and
with the same LSTM written as a custom cell (its keras.ops call traced into the scan's body),
against the numpy reference interpreter running the same graphs, and against PyTorch (nn.LSTM,
eager, and torch.compile) and JAX (an LSTM cell in lax.scan, jit) when benchmarks/.peers-venv exists
(benchmarks/setup_peers.sh). Also graphc's compile time for two sequence lengths, which should not
grow with T.

Run: .venv/bin/python benchmarks/bench_lstm.py [--threads 2] [--repeats 10] [--steps 500 --batch 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PEERS_PYTHON = HERE / ".peers-venv" / "bin" / "python"
sys.path.insert(0, str(HERE))

from common import machine_line, median_s, table  # noqa: E402

WORDS, WIDTH, UNITS = 5000, 32, 100


def data(batch: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = rng.integers(1, WORDS, (batch, steps)).astype(np.int32)
    return ids, rng.integers(0, 2, batch).astype(np.float32)


def lstm_cell_class() -> type:
    """Keras's LSTM step written as a custom cell (gate order i, f, c, o): RNN runs it as a scan."""
    from graphc.keras import layers, ops

    class LSTMStep(layers.Layer):
        def __init__(self, units: int, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.units, self.state_size = units, [units, units]

        def build(self, input_shape: tuple) -> None:
            self.kernel = self.add_weight(shape=(input_shape[-1], 4 * self.units), name="kernel")
            self.recurrent_kernel = self.add_weight(
                shape=(self.units, 4 * self.units), name="recurrent_kernel"
            )
            self.bias = self.add_weight(shape=(4 * self.units,), initializer="zeros", name="bias")

        def call(self, inputs: object, states: list) -> tuple:
            h, c = states
            z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
            u = self.units
            i, f = ops.sigmoid(z[:, :u]), ops.sigmoid(z[:, u : 2 * u])
            g, o = ops.tanh(z[:, 2 * u : 3 * u]), ops.sigmoid(z[:, 3 * u :])
            c = f * c + i * g
            h = o * ops.tanh(c)
            return h, [h, c]

    return LSTMStep


def graphc_rows(repeats: int, batch: int, steps: int) -> dict[str, float]:
    from graphc.build.programs import model_programs
    from graphc.frontend.programs import build_programs
    from graphc.interpreter import evaluate
    from graphc.keras import backend
    from graphc.keras.layers import LSTM, RNN, Dense, Embedding
    from graphc.keras.models import Sequential

    def build(length: int, scan: bool = False) -> Sequential:
        recurrent = RNN(lstm_cell_class()(UNITS)) if scan else LSTM(UNITS)
        model = Sequential(
            [Embedding(WORDS, WIDTH, input_length=length), recurrent, Dense(1, activation="sigmoid")]
        )
        model.compile("adam", "binary_crossentropy")
        return model

    out: dict[str, float] = {}
    for scan in (False, True):
        for length in (10, 500):
            backend.clear_session()
            os.environ["GRAPHC_CACHE_DIR"] = str(Path("/tmp") / f"graphc-bench-lstm-{time.time_ns()}")
            model = build(length, scan)
            x, y = data(batch, length)
            start = time.perf_counter()
            model.train_on_batch(x, y)
            tag = "scan_" if scan else ""
            out[f"{tag}first_step_T{length}"] = time.perf_counter() - start
            out[f"{tag}nodes_T{length}"] = len(model_programs(model).program("train_step").nodes)
    x, y = data(batch, steps)
    scanned = build(steps, scan=True)
    out["scan_train_step"] = median_s(lambda: scanned.train_on_batch(x, y), repeats)
    out["scan_predict"] = median_s(lambda: scanned.predict_on_batch(x), repeats)
    model = build(steps)
    out["train_step"] = median_s(lambda: model.train_on_batch(x, y), repeats)
    out["predict"] = median_s(lambda: model.predict_on_batch(x), repeats)
    programs = build_programs(model, model.expected_loss_spec(), model.optimizer)
    states = {w.path: w.numpy() for w in model.weights}
    graph = programs.recorded["predict"]
    out["numpy_predict"] = median_s(lambda: evaluate(graph, {"x": x}, states), max(2, repeats // 5), warmup=1)
    return out


PEERS = ("torch", "torch_compile", "jax")


def peer_rows(threads: int, repeats: int, batch: int, steps: int) -> dict[str, dict[str, float]]:
    if not PEERS_PYTHON.is_file():
        return {}
    results = {}
    for framework in PEERS:
        env = {
            **os.environ,
            "OMP_NUM_THREADS": str(threads),
            "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}",
        }
        command = [
            str(PEERS_PYTHON),
            str(HERE / "peer_lstm.py"),
            framework,
            "--threads",
            str(threads),
            "--repeats",
            str(repeats),
            "--steps",
            str(steps),
            "--batch",
            str(batch),
        ]
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            print(f"{framework}: failed\n{done.stderr[-1500:]}", file=sys.stderr)
            continue
        results[framework] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    from graphc_runtime import set_num_threads

    set_num_threads(args.threads)
    ours = graphc_rows(args.repeats, args.batch, args.steps)
    peers = peer_rows(args.threads, args.repeats, args.batch, args.steps)
    rows = []
    for key, label in (
        ("train_step", f"training step, batch {args.batch}"),
        ("predict", f"inference, batch {args.batch}"),
    ):
        cells = [label, f"{1000 * ours[key]:.1f}", f"{1000 * ours['scan_' + key]:.1f}"]
        for framework in PEERS:
            theirs = peers.get(framework, {}).get(key)
            cells.append("-" if theirs is None else f"{1000 * theirs:.1f} ({theirs / ours[key]:.2f}x)")
        rows.append(cells)
    print(machine_line())
    print(
        table(
            [
                f"LSTM (T={args.steps}, H=100)",
                "graphc LSTM (ms)",
                "graphc scan cell (ms)",
                "torch eager (ms, /graphc)",
                "torch.compile (ms, /graphc)",
                "JAX lax.scan (ms, /graphc)",
            ],
            rows,
        )
    )
    print(
        f"numpy reference interpreter, inference: {1000 * ours['numpy_predict']:.0f} ms "
        f"({ours['numpy_predict'] / ours['predict']:.0f}x graphc)"
    )
    for tag, what in (("", "built-in LSTM"), ("scan_", "scan cell")):
        print(
            f"{what}: first training step with an empty cache (compile + run) T=10 "
            f"{ours[tag + 'first_step_T10']:.2f} s, T=500 {ours[tag + 'first_step_T500']:.2f} s; "
            f"nodes of the optimized train step T=10 {ours[tag + 'nodes_T10']}, "
            f"T=500 {ours[tag + 'nodes_T500']}"
        )


if __name__ == "__main__":
    main()
