"""The tutorial's IMDB LSTM (Embedding(5000, 32) on 500-step reviews, LSTM(100), Dense(1, sigmoid),
Adam) at batch 64: graphc's training step and inference against the numpy reference interpreter
running the same graphs, and against PyTorch (nn.LSTM, eager, and torch.compile) when
benchmarks/.peers-venv exists (benchmarks/setup_peers.sh). Also graphc's compile time for two
sequence lengths, which should not grow with T.

Run: .venv/bin/python benchmarks/bench_lstm.py [--threads 2] [--repeats 10]
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

BATCH, STEPS, WORDS, WIDTH, UNITS = 64, 500, 5000, 32, 100


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = rng.integers(1, WORDS, (BATCH, STEPS)).astype(np.int32)
    return ids, rng.integers(0, 2, BATCH).astype(np.float32)


def graphc_rows(repeats: int) -> dict[str, float]:
    from graphc.frontend.programs import build_programs
    from graphc.interpreter import evaluate
    from graphc.keras import backend
    from graphc.keras.layers import LSTM, Dense, Embedding
    from graphc.keras.models import Sequential

    def build(steps: int) -> Sequential:
        model = Sequential([Embedding(WORDS, WIDTH, input_length=steps), LSTM(UNITS),
                            Dense(1, activation="sigmoid")])
        model.compile("adam", "binary_crossentropy")
        return model

    out: dict[str, float] = {}
    for steps in (50, STEPS):
        backend.clear_session()
        os.environ["GRAPHC_CACHE_DIR"] = str(Path("/tmp") / f"graphc-bench-lstm-{time.time_ns()}")
        model = build(steps)
        x, y = data()
        start = time.perf_counter()
        model.train_on_batch(x[:, :steps], y)
        out[f"first_step_T{steps}"] = time.perf_counter() - start
    x, y = data()
    out["train_step"] = median_s(lambda: model.train_on_batch(x, y), repeats)
    out["predict"] = median_s(lambda: model.predict_on_batch(x), repeats)
    programs = build_programs(model, model.expected_loss_spec(), model.optimizer)
    states = {w.path: w.numpy() for w in model.weights}
    graph = programs.recorded["predict"]
    out["numpy_predict"] = median_s(lambda: evaluate(graph, {"x": x}, states), max(2, repeats // 5), warmup=1)
    return out


def peer_rows(threads: int, repeats: int) -> dict[str, dict[str, float]]:
    if not PEERS_PYTHON.is_file():
        return {}
    results = {}
    for framework in ("torch", "torch_compile"):
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        command = [str(PEERS_PYTHON), str(HERE / "peer_lstm.py"), framework, "--threads", str(threads),
                   "--repeats", str(repeats)]
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            print(f"{framework}: failed\n{done.stderr[-1500:]}", file=sys.stderr)
            continue
        results[framework] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    from graphc_runtime import set_num_threads

    set_num_threads(args.threads)
    ours = graphc_rows(args.repeats)
    peers = peer_rows(args.threads, args.repeats)
    rows = []
    for key, label in (("train_step", "training step, batch 64"), ("predict", "inference, batch 64")):
        cells = [label, f"{1000 * ours[key]:.1f}"]
        for framework in ("torch", "torch_compile"):
            theirs = peers.get(framework, {}).get(key)
            cells.append("-" if theirs is None else f"{1000 * theirs:.1f} ({theirs / ours[key]:.2f}x)")
        rows.append(cells)
    print(machine_line())
    print(table(["IMDB LSTM (T=500, H=100)", "graphc (ms)", "torch eager (ms, /graphc)",
                 "torch.compile (ms, /graphc)"], rows))
    print(f"numpy reference interpreter, inference: {1000 * ours['numpy_predict']:.0f} ms "
          f"({ours['numpy_predict'] / ours['predict']:.0f}x graphc)")
    print(f"first training step with an empty cache (compile + run): T=50 {ours['first_step_T50']:.2f} s, "
          f"T=500 {ours['first_step_T500']:.2f} s")


if __name__ == "__main__":
    main()
