"""graphc under a foreign load: a warm MLP epoch alone, beside a busy process, and between numpy products.

Rows (MLP 784-512-512-10, Adam, 60000 random samples at batch 128, graphc's default threads):
- one warm epoch alone;
- the same epoch while another process keeps one core busy (a Python busy loop);
- the training step alone, and the same step when a numpy 512x512 matrix product (OpenBLAS
  threads, which spin after their work) runs between steps; only the steps are timed.
A pool whose workers spin long, or whose loops wait for every worker, loses far more than the
core it gave up. Uses only the Keras API, so an older checkout runs it too (before/after):
    PYTHONPATH=<old>:<old>/runtime .venv/bin/python benchmarks/bench_load.py
Run: .venv/bin/python benchmarks/bench_load.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_peers import build  # noqa: E402
from common import MLP_SIZES, machine_line, table  # noqa: E402

from graphc.keras.models import Sequential  # noqa: E402

SAMPLES, BATCH = 60000, 128
BUSY = "while True: pass"


def epoch_s(model: Sequential, x: np.ndarray, y: np.ndarray) -> float:
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    return time.perf_counter() - start


def steps_ms(model: Sequential, x: np.ndarray, y: np.ndarray, between: np.ndarray | None,
             steps: int = 200) -> float:
    """Median training-step time; `between` is multiplied by itself (numpy) before each step."""
    times = []
    for i in range(steps):
        if between is not None:
            between @ between
        start = time.perf_counter()
        model.train_on_batch(x[i % 8 * BATCH:(i % 8 + 1) * BATCH], y[i % 8 * BATCH:(i % 8 + 1) * BATCH])
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, MLP_SIZES[0])).astype(np.float32)
    y = rng.integers(0, MLP_SIZES[-1], size=SAMPLES).astype(np.float32)
    product = rng.normal(size=(512, 512)).astype(np.float32)
    model = build(MLP_SIZES)
    model.fit(x[:BATCH * 4], y[:BATCH * 4], batch_size=BATCH, verbose=0)  # compile and warm up
    alone, loaded, step, step_numpy = [], [], [], []
    for _ in range(args.rounds):
        alone.append(epoch_s(model, x, y))
        busy = subprocess.Popen([sys.executable, "-c", BUSY])
        try:
            time.sleep(0.2)
            loaded.append(epoch_s(model, x, y))
        finally:
            busy.kill()
            busy.wait()
        step.append(steps_ms(model, x, y, None))
        step_numpy.append(steps_ms(model, x, y, product))
    print(machine_line())
    rows = [("warm epoch alone (s)", statistics.median(alone)),
            ("warm epoch beside a busy process (s)", statistics.median(loaded)),
            ("training step alone (ms)", statistics.median(step)),
            ("training step with a numpy 512x512 product between steps (ms)", statistics.median(step_numpy))]
    print(table(["measurement", f"median of {args.rounds}"],
                [(name, f"{value:.3f}") for name, value in rows]))
    print(f"epoch slowdown beside a busy process: {rows[1][1] / rows[0][1]:.2f}x; "
          f"step slowdown with numpy between steps: {rows[3][1] / rows[2][1]:.2f}x")


if __name__ == "__main__":
    main()
