"""One model used from several threads: concurrent predicts, and predicts racing training and weight writes.

Each scenario runs in a child process, so that a crash (the old shared argument array and
workspace gave "double free or corruption" and SIGSEGV) fails the test instead of the run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
import threading
import numpy as np
from graphc.keras import backend
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed

def build():
    backend.clear_session()
    set_random_seed(0)
    model = Sequential([Dense(64, activation="relu", input_shape=(20,)), Dense(64, activation="relu"),
                        Dense(5, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model

rng = np.random.default_rng(0)
X = rng.normal(size=(64, 20)).astype(np.float32)
Y = rng.integers(0, 5, size=64).astype(np.float32)

def run(threads):
    errors = []
    def guard(fn, *args):
        try:
            fn(*args)
        except BaseException as error:  # reported by the parent through the exit code
            errors.append(repr(error))
    workers = [threading.Thread(target=guard, args=t) for t in threads]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
"""

CONCURRENT_PREDICTS = """
model = build()
sizes = [1, 33, 2, 64, 7, 16, 3, 48]
want = {n: model.predict_on_batch(X[:n]) for n in sizes}
wrong = []
def predicts(seed):
    order = np.random.default_rng(seed).choice(sizes, size=1500)
    for n in order:
        got = model.predict_on_batch(X[:n])
        if not np.array_equal(got, want[n]):
            wrong.append(int(n))
run([(predicts, s) for s in range(4)])
assert not wrong, f"{len(wrong)} of 6000 concurrent predicts differ from the single-thread result"
print("ok", 6000)
"""

PREDICTS_RACING_TRAINING = """
model, twin = build(), build()
twin.set_weights(model.get_weights())
STEPS = 150
def train():
    for _ in range(STEPS):
        model.train_on_batch(X, Y)
def predicts(seed):
    order = np.random.default_rng(seed).integers(1, 65, size=600)
    for n in order:
        out = model.predict_on_batch(X[:n])
        assert out.shape == (n, 5) and np.isfinite(out).all()
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-4)
def reads():
    for _ in range(300):
        weights = model.get_weights()
        assert all(np.isfinite(w).all() for w in weights)
run([(train,), (predicts, 1), (predicts, 2), (reads,)])
for _ in range(STEPS):
    twin.train_on_batch(X, Y)
assert model.optimizer.iterations == STEPS
for got, want in zip(model.get_weights(), twin.get_weights(), strict=True):
    np.testing.assert_array_equal(got, want)  # predicts and reads never disturb training
print("ok", STEPS)
"""

WEIGHT_WRITES = """
model = build()
model.predict_on_batch(X[:1])  # weights now live in the runtime's buffers
first = model.get_weights()
second = [w + 1.0 for w in first]
def writes():
    for i in range(400):
        model.set_weights(first if i % 2 else second)
torn = []
def reads():
    for _ in range(400):
        for got, a, b in zip(model.get_weights(), first, second, strict=True):
            if not (np.array_equal(got, a) or np.array_equal(got, b)):
                torn.append(got.shape)
def predicts():
    for _ in range(400):
        out = model.predict_on_batch(X[:9])
        assert np.isfinite(out).all()
run([(writes,), (reads,), (reads,), (predicts,)])
assert not torn, f"{len(torn)} reads saw a half-written weight"
print("ok", 400)
"""


@pytest.mark.parametrize("scenario", [CONCURRENT_PREDICTS, PREDICTS_RACING_TRAINING, WEIGHT_WRITES],
                         ids=["concurrent_predicts", "predicts_racing_training", "weight_writes"])
def test_one_model_from_several_threads(scenario: str) -> None:
    script = textwrap.dedent(PRELUDE) + textwrap.dedent(scenario)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    assert done.stdout.startswith("ok")
