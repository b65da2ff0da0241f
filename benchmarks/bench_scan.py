"""RNN of a cell written with keras.ops (its call traced into a scan's body) against the built-in
layers computing the same numbers (their steps written in code, the same scan): SimpleRNN and LSTM,
batch 64, 100 steps of 32 features, 100 units. Also the scan model's compile time and node count for
10 and 500 steps.

Run: .venv/bin/python benchmarks/bench_scan.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_lstm import lstm_cell_class  # noqa: E402
from common import machine_line, median_s, table  # noqa: E402

from graphc.keras import Input, Sequential, backend, ops  # noqa: E402
from graphc.keras import layers as L  # noqa: E402
from graphc.keras.optimizers import Adam  # noqa: E402

BATCH, STEPS, FEATURES, UNITS = 64, 100, 32, 100


class SimpleStep(L.Layer):
    """SimpleRNN's step as a custom cell."""

    def __init__(self, units: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.units, self.state_size = units, units

    def build(self, input_shape: tuple) -> None:
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs: object, states: list) -> tuple:
        h = ops.tanh(
            ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel) + self.bias
        )
        return h, [h]


def _model(layer: L.Layer, steps: int = STEPS) -> Sequential:
    model = Sequential([Input((steps, FEATURES)), layer, L.Dense(1)])
    model.compile(Adam(1e-3), "mse")
    return model


def _pairs() -> list[tuple[str, Sequential, Sequential]]:
    backend.clear_session()
    pairs = []
    for name, cell, builtin in (
        ("SimpleRNN", SimpleStep(UNITS), L.SimpleRNN(UNITS)),
        ("LSTM", lstm_cell_class()(UNITS), L.LSTM(UNITS)),
    ):
        scanned, dedicated = _model(L.RNN(cell)), _model(builtin)
        dedicated.set_weights(scanned.get_weights())
        pairs.append((name, scanned, dedicated))
    return pairs


def compile_figures(steps: int) -> tuple[float, int]:
    """Seconds to the end of the first train_on_batch (cache off) and the optimized train step's nodes."""
    import os

    os.environ["GRAPHC_CACHE_DIR"] = "off"
    backend.clear_session()
    model = _model(L.RNN(lstm_cell_class()(UNITS)), steps)
    x = np.zeros((BATCH, steps, FEATURES), np.float32)
    start = time.perf_counter()
    model.train_on_batch(x, np.zeros((BATCH, 1), np.float32))
    seconds = time.perf_counter() - start
    from graphc.build.programs import model_programs

    return seconds, len(model_programs(model).program("train_step").nodes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype(np.float32)
    y = rng.normal(size=(BATCH, 1)).astype(np.float32)
    rows = []
    for name, scanned, dedicated in _pairs():
        figures = []
        for model in (scanned, dedicated):
            figures.append(median_s(lambda m=model: m.train_on_batch(x, y), args.repeats))
            figures.append(median_s(lambda m=model: m.predict_on_batch(x), args.repeats))
        rows.append([name, *(f"{f * 1e3:.2f} ms" for f in figures)])
    print(machine_line())
    print(table(["cell", "scan step", "scan predict", "built-in step", "built-in predict"], rows))
    for steps in (10, 500):
        seconds, nodes = compile_figures(steps)
        print(
            f"custom LSTM cell, T={steps}: first train_on_batch {seconds:.2f} s (no cache), "
            f"{nodes} nodes in the optimized train step"
        )


if __name__ == "__main__":
    main()
