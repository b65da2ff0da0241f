"""Saves are atomic: a writer killed at any moment, or a full disk, leaves the previous file loadable."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from graphc.frontend.saving import model_h5
from graphc.keras import backend
from graphc.keras.callbacks import ModelCheckpoint
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential, load_model

ROOT = Path(__file__).resolve().parents[2]

# One child process prepares two weight versions, then per round forks a writer that saves them
# in turn without end, SIGKILLs it after a random moment and checks what is left at the targets.
KILL_ROUNDS = """
import os, random, signal, sys, time
import numpy as np
from graphc.keras import backend
from graphc.keras.layers import Dense, Dropout
from graphc.keras.models import Sequential, load_model

backend.clear_session()
model = Sequential([Dense(256, activation="relu", input_shape=(64,)), Dropout(0.1), Dense(10)])
model.compile(optimizer="adam", loss="mse")
x = np.random.default_rng(0).normal(size=(32, 64)).astype(np.float32)
model.train_on_batch(x, np.zeros((32, 10), np.float32))
first = model.get_weights()
second = [w + 1.0 for w in first]
folder = sys.argv[1]
full, weights = os.path.join(folder, "model.h5"), os.path.join(folder, "weights.h5")
model.save(full)
model.save_weights(weights)
rng = random.Random(1)
loaded = 0
for round_ in range({rounds}):
    pid = os.fork()
    if pid == 0:
        i = 0
        while True:
            model.set_weights(second if i % 2 else first)
            model.save(full)
            model.save_weights(weights)
            i += 1
    time.sleep(rng.uniform(0.005, 0.12))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    restored = load_model(full)
    for got in (restored.get_weights(),):
        assert any(all(np.array_equal(g, w) for g, w in zip(got, version)) for version in (first, second)), \\
            f"round {{round_}}: the model file holds neither saved version"
    probe = Sequential([Dense(256, activation="relu", input_shape=(64,)), Dropout(0.1), Dense(10)])
    probe.load_weights(weights)
    got = probe.get_weights()
    assert any(all(np.array_equal(g, w) for g, w in zip(got, version)) for version in (first, second)), \\
        f"round {{round_}}: the weights file holds neither saved version"
    loaded += 1
print("loaded", loaded)
"""


def test_checkpoints_survive_sigkill_during_saves(tmp_path) -> None:
    rounds = 25
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(KILL_ROUNDS.format(rounds=rounds)),
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    assert done.stdout.split() == ["loaded", str(rounds)]


def _model() -> Sequential:
    backend.clear_session()
    model = Sequential([Dense(3, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("entry", ["save", "save_weights"])
def test_a_full_disk_keeps_the_previous_file_byte_for_byte(tmp_path, monkeypatch, entry) -> None:
    model = _model()
    target = tmp_path / "m.h5"
    getattr(model, entry)(target)
    before = target.read_bytes()
    model.set_weights([w + 1 for w in model.get_weights()])

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(model_h5, "write_weights", full_disk)
    monkeypatch.setattr("graphc.frontend.saving.write_weights", full_disk)
    with pytest.raises(OSError, match="No space left"):
        getattr(model, entry)(target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5"]  # no temporary file left behind


def test_model_checkpoint_writes_through_the_atomic_path(tmp_path) -> None:
    model = _model()
    x = np.ones((8, 2), np.float32)
    target = tmp_path / "best.h5"
    model.fit(x, np.zeros((8, 3), np.float32), epochs=2, verbose=0,
              callbacks=[ModelCheckpoint(str(target), monitor="loss")])
    np.testing.assert_array_equal(load_model(target).get_weights()[0], model.get_weights()[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.h5"]
