"""graphc against a hand-written numpy implementation of the same MLP (784-512-512-10, relu, softmax).

Times, as medians over repeated runs in this one process:
- one training step (forward, sparse softmax cross-entropy, backward, Adam update) at batch 128;
- inference at batch 1 and batch 128;
- the first-call compile time of the training programs (graph recording, passes, LLVM, linking).

Run: .venv/bin/python benchmarks/bench_mlp.py [--repeats 50]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MLP_SIZES, machine_line, median_s  # noqa: E402

from graphc.frontend.programs import LABELS  # noqa: E402
from graphc.keras import backend  # noqa: E402
from graphc.keras.layers import Dense  # noqa: E402
from graphc.keras.models import Sequential  # noqa: E402
from graphc.keras.utils import set_random_seed  # noqa: E402


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    return 1000 * median_s(fn, repeats)


class NumpyMLP:
    """The same model and Adam step written directly in numpy (float32)."""

    def __init__(self, weights: list[np.ndarray]) -> None:
        self.params = [w.astype(np.float32).copy() for w in weights]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        activations = [x]
        h = x
        for i in range(0, len(self.params) - 2, 2):
            h = np.maximum(h @ self.params[i] + self.params[i + 1], 0)
            activations.append(h)
        logits = h @ self.params[-2] + self.params[-1]
        return activations, logits

    def predict(self, x: np.ndarray) -> np.ndarray:
        logits = self.forward(x)[1]
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float = 1e-3) -> float:
        activations, logits = self.forward(x)
        shifted = logits - logits.max(1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
        n = len(x)
        loss = -log_probs[np.arange(n), y].mean()
        grad = np.exp(log_probs)
        grad[np.arange(n), y] -= 1
        grad /= n
        grads = [None] * len(self.params)
        for layer in reversed(range(len(self.params) // 2)):
            inputs = activations[layer]
            grads[2 * layer] = inputs.T @ grad
            grads[2 * layer + 1] = grad.sum(0)
            if layer:
                grad = (grad @ self.params[2 * layer].T) * (inputs > 0)
        self.t += 1
        alpha = lr * np.sqrt(1 - 0.999**self.t) / (1 - 0.9**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m += (g - m) * 0.1
            v += (g * g - v) * 0.001
            p -= alpha * m / (np.sqrt(v) + 1e-7)
        return float(loss)


def build_model() -> Sequential:
    backend.clear_session()
    set_random_seed(1)
    model = Sequential([Dense(MLP_SIZES[1], activation="relu", input_shape=(MLP_SIZES[0],)),
                        Dense(MLP_SIZES[2], activation="relu"), Dense(MLP_SIZES[3], activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x128 = rng.random((128, 784), dtype=np.float32)
    y128 = rng.integers(0, 10, 128)
    x1 = x128[:1].copy()

    with tempfile.TemporaryDirectory() as cache:
        os.environ["GRAPHC_CACHE_DIR"] = cache  # a cold compile, whatever earlier runs cached
        model = build_model()
        start = time.perf_counter()
        model.train_on_batch(x128, y128)
        compile_s = time.perf_counter() - start
        model.predict(x1, verbose=0)

    reference = NumpyMLP(model.get_weights())
    train = model._engine.program("train_step")
    predict = model._engine.program("predict")
    feeds = {"x": x128, LABELS: y128.astype(np.float32), **model.optimizer.feeds()}
    rows = [
        ("training step, batch 128 (runtime call)", median_ms(lambda: train(128, **feeds), args.repeats),
         median_ms(lambda: reference.train_step(x128, y128), args.repeats)),
        ("training step, batch 128 (model.train_on_batch)",
         median_ms(lambda: model.train_on_batch(x128, y128), args.repeats), None),
        ("inference, batch 1 (runtime call)", median_ms(lambda: predict(1, x=x1), args.repeats * 10),
         median_ms(lambda: reference.predict(x1), args.repeats * 10)),
        ("inference, batch 128 (runtime call)", median_ms(lambda: predict(128, x=x128), args.repeats),
         median_ms(lambda: reference.predict(x128), args.repeats)),
    ]
    print(f"machine: {machine_line()}, numpy {np.__version__}")
    print("| measurement | graphc (ms) | numpy (ms) | numpy / graphc |")
    print("|---|---|---|---|")
    for name, ours, theirs in rows:
        ratio = f"{theirs / ours:.2f}x" if theirs else "-"
        print(f"| {name} | {ours:.3f} | {theirs:.3f} | {ratio} |" if theirs else
              f"| {name} | {ours:.3f} | - | - |")
    label = "first train_on_batch, empty cache (training step, GEMM and pool objects)"
    print(f"| {label} | {1000 * compile_s:.0f} | - | - |")


if __name__ == "__main__":
    main()
