"""The per-call cost of the model entry points, and concurrent predicts from several threads.

The Python side of a call (argument checks, label checks, argument arrays, locks) is what
dominates small models; this measures it through the public API:
- the tiny 4-16-3 model: train_on_batch at batch 16, predict_on_batch at batch 1;
- the MLP 784-512-512-10: predict_on_batch at batch 1 and 128;
- with --threads-check, predicts per second from 1, 2 and 4 Python threads sharing one model.

Uses only the Keras API, so an older checkout runs it too (for before/after figures):
    PYTHONPATH=<old>:<old>/runtime .venv/bin/python benchmarks/bench_calls.py
Run: .venv/bin/python benchmarks/bench_calls.py [--repeats 2000] [--threads-check]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_peers import build, data  # noqa: E402  (the same models and data as the peers run)
from common import MLP_SIZES, TINY_SIZES, machine_line, median_s, table  # noqa: E402


def per_call_rows(repeats: int) -> list[tuple[str, float]]:
    tiny, mlp = build(TINY_SIZES), build(MLP_SIZES)
    x16, y16 = data(16, TINY_SIZES)
    x1 = x16[:1].copy()
    m1, _ = data(1, MLP_SIZES)
    m128, _ = data(128, MLP_SIZES)
    return [
        ("tiny 4-16-3 train_on_batch, batch 16", median_s(lambda: tiny.train_on_batch(x16, y16), repeats)),
        ("tiny 4-16-3 predict_on_batch, batch 1", median_s(lambda: tiny.predict_on_batch(x1), repeats)),
        ("MLP predict_on_batch, batch 1", median_s(lambda: mlp.predict_on_batch(m1), repeats)),
        ("MLP predict_on_batch, batch 128", median_s(lambda: mlp.predict_on_batch(m128), repeats // 10)),
    ]


def threads_rows(seconds: float) -> list[tuple[str, float]]:
    """Predicts per second of batch 1..32 on the MLP from several threads sharing one model."""
    model = build(MLP_SIZES)
    batches = [data(b, MLP_SIZES)[0] for b in (1, 8, 32)]

    def work(stop: float, done: list[int], index: int) -> None:
        calls = 0
        while time.perf_counter() < stop:
            model.predict_on_batch(batches[calls % len(batches)])
            calls += 1
        done[index] = calls

    rows = []
    for count in (1, 2, 4):
        done = [0] * count
        stop = time.perf_counter() + seconds
        threads = [threading.Thread(target=work, args=(stop, done, i)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rows.append((f"MLP predicts/s (batch 1, 8, 32 in turn), {count} thread(s)", sum(done) / seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--threads-check", action="store_true")
    args = parser.parse_args()
    print(machine_line())
    rows = [(name, f"{1e6 * value:.2f}") for name, value in per_call_rows(args.repeats)]
    print(table(["per call", "median (us)"], rows))
    if args.threads_check:
        print(table(["threads", "calls per second"],
                    [(name, f"{value:.0f}") for name, value in threads_rows(2.0)]))


if __name__ == "__main__":
    main()
