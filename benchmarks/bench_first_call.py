"""The latency a user feels first: a fresh process's first training step and first predict, graphc vs
JAX and TensorFlow.

Each measurement is its own fresh process (imports excluded, as a Keras user's `import` comes
before the clock starts in the issue's method): build a model never compiled before, time the first
`train_on_batch` (graphc, TensorFlow) or the first call of the jitted Adam step (JAX), then the first
`predict` on the trained weights. An older checkout runs by PYTHONPATH=<old>:<old>/runtime. graphc's
model-independent support objects (GEMM kernels, worker pool) are cached first by one warm-up
process in a new cache folder, as on any machine where graphc has run once, and the rest of that
folder is emptied; each graphc process gets a hidden width not compiled before (so the compile
cache cannot serve the model), and the peers get the same widths. Processes alternate between the
frameworks, so the machine's drift falls on them alike. JAX and TensorFlow (Keras on its TF
backend: the same Sequential model, `train_on_batch` then `predict`, each traced into a
tf.function) run from benchmarks/.peers-venv (setup_peers.sh); a framework missing there is left
out.

Models (Adam, sparse categorical cross-entropy): tiny 4-H-3 (H in 16..64, batch 16), the MLP
784-H-512-10 (H in 480..544, batch 128) and the tutorial CNN with H filters (Conv2D H 5x5 relu,
MaxPooling 2x2, Flatten, Dense 128 relu, Dense 10 softmax on 28x28x1; H in 24..40, batch 64).

Run: .venv/bin/python benchmarks/bench_first_call.py [--rounds 7] [--models tiny mlp cnn]
       [--baseline /path/to/older/checkout]  (a column for that build, its own cache warmed alike)
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine_line, table  # noqa: E402

PEERS_PYTHON = HERE / ".peers-venv" / "bin" / "python"
BATCH = {"tiny": 16, "mlp": 128, "cnn": 64}
WIDTHS = {"tiny": (16, 64), "mlp": (480, 544), "cnn": (24, 40)}


def sizes(model: str, width: int) -> tuple[int, ...]:
    """Dense sizes; for the CNN, (filters,) (its input and head are fixed)."""
    return {"tiny": (4, width, 3), "mlp": (784, width, 512, 10), "cnn": (width,)}[model]


GRAPHC = """
import time
import numpy as np
import graphc.keras, graphc.codegen, graphc.frontend.trainer
from graphc.keras.layers import Conv2D, Dense, Flatten, MaxPooling2D
from graphc.keras.models import Sequential
sizes, batch, cnn = {sizes!r}, {batch}, {cnn}
rng = np.random.default_rng(0)
x = rng.random((batch, 28, 28, 1) if cnn else (batch, sizes[0]), dtype=np.float32)
y = rng.integers(0, 10 if cnn else sizes[-1], batch).astype(np.float32)
start = time.perf_counter()
if cnn:
    layers = [Conv2D(sizes[0], (5, 5), activation="relu", input_shape=(28, 28, 1)), MaxPooling2D(), Flatten(),
              Dense(128, activation="relu"), Dense(10, activation="softmax")]
else:
    layers = [Dense(sizes[1], activation="relu", input_shape=(sizes[0],))]
    layers += [Dense(n, activation="relu") for n in sizes[2:-1]] + [Dense(sizes[-1], activation="softmax")]
model = Sequential(layers)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.train_on_batch(x, y)
step = time.perf_counter()
model.predict(x, verbose=0)
print(step - start, time.perf_counter() - step)
"""

JAX = """
import sys, time
sys.path.insert(0, {here!r})
import numpy as np
import jax, jax.numpy as jnp
from jax import lax
from peer_models import jax_adam_step
sizes, batch, cnn = {sizes!r}, {batch}, {cnn}
rng = np.random.default_rng(0)
x = jnp.asarray(rng.random((batch, 28, 28, 1) if cnn else (batch, sizes[0]), dtype=np.float32))
y = jnp.asarray(rng.integers(0, 10 if cnn else sizes[-1], batch))
start = time.perf_counter()
dense = ((12 * 12 * sizes[0], 128, 10) if cnn else sizes)
keys = jax.random.split(jax.random.PRNGKey(0), len(dense))
params = [(jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), jnp.zeros(b))
          for k, a, b in zip(keys, dense[:-1], dense[1:])]
if cnn:
    kernel = jax.random.normal(keys[-1], (5, 5, 1, sizes[0])) * jnp.sqrt(2.0 / 25)
    params.append((kernel, jnp.zeros(sizes[0])))

def forward(params, x):
    if cnn:
        w, b = params[-1]
        x = lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        x = lax.reduce_window(jax.nn.relu(x + b), -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        x, params = x.reshape(x.shape[0], -1), params[:-1]
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = params[-1]
    return x @ w + b

def loss(params, x, y):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(forward(params, x)), y[:, None], axis=1))

step = jax.jit(jax_adam_step(loss))
zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
params, *_, value = step(params, zeros, zeros, jnp.float32(0), x, y)
value.block_until_ready()
first = time.perf_counter()
jax.jit(lambda p, x: jax.nn.softmax(forward(p, x)))(params, x).block_until_ready()
print(first - start, time.perf_counter() - first)
"""


TENSORFLOW = """
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import time
import numpy as np
import tensorflow as tf
from tensorflow import keras
sizes, batch, cnn = {sizes!r}, {batch}, {cnn}
rng = np.random.default_rng(0)
x = rng.random((batch, 28, 28, 1) if cnn else (batch, sizes[0]), dtype=np.float32)
y = rng.integers(0, 10 if cnn else sizes[-1], batch).astype(np.float32)
start = time.perf_counter()
L = keras.layers
if cnn:
    layers = [L.Input((28, 28, 1)), L.Conv2D(sizes[0], (5, 5), activation="relu"), L.MaxPooling2D(),
              L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")]
else:
    layers = [L.Input((sizes[0],)), L.Dense(sizes[1], activation="relu")]
    layers += [L.Dense(n, activation="relu") for n in sizes[2:-1]]
    layers.append(L.Dense(sizes[-1], activation="softmax"))
model = keras.Sequential(layers)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.train_on_batch(x, y)
step = time.perf_counter()
model.predict(x, verbose=0)
print(step - start, time.perf_counter() - step)
"""


def timed(python: str, code: str, env: dict[str, str], cwd: str) -> tuple[float, float]:
    """One fresh process's (first step, first predict) in ms. `cwd` is a neutral folder: `python -c`
    puts the working directory first on sys.path, where a checkout would shadow PYTHONPATH."""
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False, env=env, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"a measured process failed ({done.returncode}):\n{done.stderr[-3000:]}")
    step, predict = done.stdout.split()[-2:]
    return float(step) * 1e3, float(predict) * 1e3


def _imports(python: str, module: str) -> bool:
    done = subprocess.run([python, "-c", f"import {module}"], capture_output=True, check=False)
    return done.returncode == 0


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def graphc_cache(model: str, env: dict[str, str], cache: str) -> None:
    """Fill `cache` with what any machine where graphc has run holds: the model-independent support
    objects, compiled by a warm-up process (a width no measured process gets); the rest is emptied."""
    warm_up = GRAPHC.format(sizes=sizes(model, WIDTHS[model][1] + 1), batch=BATCH[model], cnn=model == "cnn")
    timed(sys.executable, warm_up, env, cache)
    for entry in Path(cache).iterdir():
        if not entry.name.endswith((".gemm.o", ".pool.o")):
            entry.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--models", nargs="+", choices=sorted(BATCH), default=["tiny", "mlp", "cnn"])
    parser.add_argument("--baseline", type=Path, help="an older graphc checkout to measure beside this one")
    args = parser.parse_args()
    frameworks = {"graphc": (sys.executable, GRAPHC, {})}
    if args.baseline is not None:
        old = args.baseline.resolve()
        frameworks["graphc baseline"] = (sys.executable, GRAPHC, {"PYTHONPATH": f"{old}:{old / 'runtime'}"})
    if PEERS_PYTHON.exists():
        frameworks["jax"] = (str(PEERS_PYTHON), JAX, {})
        if _imports(str(PEERS_PYTHON), "tensorflow"):
            frameworks["tensorflow"] = (str(PEERS_PYTHON), TENSORFLOW, {})
    rows = []
    for model in args.models:
        low, high = WIDTHS[model]
        widths = random.sample(range(low, high + 1), args.rounds)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in frameworks}
        with tempfile.TemporaryDirectory() as folder:
            envs = {}
            for name, (_, code, extra) in frameworks.items():
                cache = Path(folder) / f"cache-{name.replace(' ', '-')}"  # no folder named like a package
                cache.mkdir()
                envs[name] = dict(os.environ, GRAPHC_CACHE_DIR=str(cache), **extra)
                if code is GRAPHC:
                    graphc_cache(model, envs[name], str(cache))
            for width in widths:
                for name, (python, code, _) in frameworks.items():
                    code = code.format(sizes=sizes(model, width), batch=BATCH[model], cnn=model == "cnn",
                                       here=str(HERE))
                    times[name].append(timed(python, code, envs[name], folder))
        for what, index in (("first training step", 0), ("first predict", 1)):
            row = [f"{model} {what}, batch {BATCH[model]}"]
            row += [summary([t[index] for t in times[name]]) for name in frameworks]
            rows.append(row)
    print(machine_line())
    print(f"Fresh processes, {args.rounds} per framework and model, ms: median (min-max)\n")
    print(table(["first call", *[f"{name} (ms)" for name in frameworks]], rows))


if __name__ == "__main__":
    main()
