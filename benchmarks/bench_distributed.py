"""Data-parallel training throughput on MPI (issue 15): the Fashion-MNIST MLP and the MNIST CNN
with 1 rank (2 threads and 1 thread) and 2 ranks of 1 thread, on this machine's 2 cores.

    .venv/bin/python benchmarks/bench_distributed.py [--data-dir ../shared/datasets]

The script launches itself under mpirun for each configuration (`--worker`); rank 0 prints one
JSON line: samples per second over the timed epoch, the step time, and the median time of an
allreduce of the model's gradient buffer (float32, one per step) and of a 1 KB one. From those it
projects the scaling efficiency at 8 and 64 ranks with a ring-allreduce cost model (a model, not
a measurement; the shared-memory link here is much faster than a network, so the 10 GbE row uses
that link's nominal figures instead).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))

GLOBAL_BATCH = {"mlp": 128, "cnn": 200}
SAMPLES = {"mlp": 30_720, "cnn": 5_000}  # timed per epoch (the CNN's MNIST is the shipped 5,000 digits)


def worker(kind: str, data_dir: str | None) -> None:
    import distributed_mnist

    import graphc.distribute as hvd
    from graphc.keras import optimizers

    hvd.init()
    (x, y), _ = distributed_mnist.load(kind, kind == "mlp", data_dir)
    x, y = x[:SAMPLES[kind]], y[:SAMPLES[kind]]
    x, y = x[hvd.rank()::hvd.size()], y[hvd.rank()::hvd.size()]
    model = distributed_mnist.build_model(kind)
    model.compile(hvd.DistributedOptimizer(optimizers.Adam(0.001)), "sparse_categorical_crossentropy")
    batch = GLOBAL_BATCH[kind] // hvd.size()
    model.fit(x[:batch * 4], y[:batch * 4], batch_size=batch, epochs=1, verbose=0)  # compiles
    hvd.world().barrier()
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    steps = -(-len(x) // batch)
    parameters = sum(int(np.prod(w.shape)) for w in model.trainable_weights)

    def allreduce_ms(count: int) -> float:
        buffer = np.zeros(count, dtype=np.float32)
        times = []
        for _ in range(30):
            begin = time.perf_counter()
            hvd.world().allreduce_sum(buffer)
            times.append(time.perf_counter() - begin)
        return statistics.median(times) * 1e3

    result = {"model": kind, "ranks": hvd.size(), "threads": int(os.environ.get("GRAPHC_NUM_THREADS", 0)),
              "samples_per_s": SAMPLES[kind] / seconds, "step_ms": seconds / steps * 1e3,
              "parameters": parameters, "allreduce_ms": allreduce_ms(parameters + 1),
              "allreduce_1kb_ms": allreduce_ms(256)}
    if hvd.rank() == 0:
        print(json.dumps(result), flush=True)


def run(kind: str, ranks: int, threads: int, data_dir: str | None) -> dict:
    mpirun = Path(sys.executable).with_name("mpirun")
    env = {**os.environ, "GRAPHC_NUM_THREADS": str(threads)}
    command = [str(mpirun), "-n", str(ranks), sys.executable, __file__, "--worker", kind]
    if data_dir:
        command += ["--data-dir", data_dir]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{kind} with {ranks} rank(s) failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def ring_ms(ranks: int, megabytes: float, bandwidth_gb_s: float, latency_us: float) -> float:
    """Ring allreduce: 2(p-1) messages of S/p bytes each way."""
    return (2 * (ranks - 1) / ranks * megabytes / 1e3 / bandwidth_gb_s * 1e3
            + 2 * (ranks - 1) * latency_us / 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=["mlp", "cnn"])
    parser.add_argument("--data-dir", default=os.environ.get("GRAPHC_DATA_DIR"))
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data_dir)
        return
    from common import machine_line

    print(f"# bench_distributed.py: {machine_line()}")
    print("| model | ranks x threads | samples/s | step (ms) | allreduce per step (ms) | efficiency vs 1x1 |")
    print("|---|---|---|---|---|---|")
    projections = []
    for kind in ("mlp", "cnn"):
        results = {(r, t): run(kind, r, t, args.data_dir) for r, t in ((1, 2), (1, 1), (2, 1))}
        base = results[(1, 1)]["samples_per_s"]
        for (ranks, threads), result in results.items():
            efficiency = result["samples_per_s"] / (ranks * base)
            allreduce = f"{result['allreduce_ms']:.3f}" if ranks > 1 else "-"
            print(f"| {kind} ({result['parameters']:,} weights) | {ranks} x {threads} | "
                  f"{result['samples_per_s']:,.0f} | {result['step_ms']:.2f} | {allreduce} | "
                  f"{efficiency:.0%} |")
        two = results[(2, 1)]
        megabytes = (two["parameters"] + 1) * 4 / 1e6
        latency_us = two["allreduce_1kb_ms"] / 2 * 1e3  # p=2: two latencies for a tiny message
        bandwidth = megabytes / 1e3 / max((two["allreduce_ms"] - two["allreduce_1kb_ms"]) / 1e3, 1e-9)
        compute_ms = two["step_ms"] - two["allreduce_ms"]
        links = (("this machine (shared memory)", bandwidth, latency_us), ("10 GbE", 1.25, 20.0))
        for link, gb_s, lat in links:
            cells = []
            for ranks in (8, 64):
                cost = ring_ms(ranks, megabytes, gb_s, lat)
                efficiency = compute_ms / (compute_ms + cost)
                cells.append(f"{ranks} ranks: allreduce {cost:.2f} ms, efficiency {efficiency:.0%}")
            projections.append(f"- {kind}, {link} ({gb_s:.2f} GB/s, {lat:.0f} us): " + "; ".join(cells))
    print("\nProjected (ring allreduce model, no overlap; per-rank compute "
          "= the 2-rank step minus its allreduce):")
    print("\n".join(projections))


if __name__ == "__main__":
    main()
