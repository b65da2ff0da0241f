"""A dropped model releases its native libraries, worker pools and temporary files.

Runs in child processes: unloading a library whose code is still running would crash.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHURN = """
import os, sys, tempfile
import numpy as np
from graphc.keras import backend
from graphc.keras.layers import Dense, Dropout
from graphc.keras.models import Sequential

def loaded():
    with open("/proc/self/maps") as maps:
        return len({line.split()[5] for line in maps if len(line.split()) > 5 and "graphc-" in line
                    and ".so" in line})

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))

def folders():
    return len([d for d in os.listdir(tempfile.gettempdir()) if d.startswith("graphc-")])

models, steps = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
x = rng.normal(size=(256, 8)).astype(np.float32)
y = rng.normal(size=(256, 2)).astype(np.float32)
start_folders = folders()
peak = 0
for i in range(models):
    model = Sequential([Dense(32, activation="relu", input_shape=(8,)), Dropout(0.1), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, validation_split=0.25)
    model.predict(x, verbose=0)
    for _ in range(steps):
        model.train_on_batch(x[:32], y[:32])
    if i == 10:  # after the first compiles (LLVM's own caches grow when the disk cache is cold)
        first_rss = rss_mb()
    del model
    peak = max(peak, loaded())
backend.clear_session()
print("peak", peak, "left", loaded(), "folders", folders() - start_folders,
      "rss_growth_mb", rss_mb() - first_rss)
"""


def _churn(models: int, steps: int, **env: str) -> dict[str, int]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(CHURN), str(models), str(steps)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False, env={**os.environ, **env})
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-3000:]}"
    words = done.stdout.split()
    return {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}


def test_dropped_models_unload_their_libraries() -> None:
    figures = _churn(models=120, steps=0)
    assert figures["left"] == 0 and figures["folders"] == 0, figures
    # bounded by the cycle collector's rhythm, not the model count (a leak would reach 120): 48 with a warm
    # compile cache, 75 once when every model ran the pass pipeline (more garbage between collections)
    assert figures["peak"] < 100, figures
    assert figures["rss_growth_mb"] < 40, figures


def test_models_dropped_during_their_background_builds_leave_no_folder() -> None:
    """Without a compile cache every model's first calls are tiered: the optimized library is linked
    into the model's folder in the background, after the model may be gone. clear_session waits for
    those builds; the folder goes with the last holder (it used to be made again by the link)."""
    figures = _churn(models=12, steps=0, GRAPHC_CACHE_DIR="off")
    assert figures["left"] == 0 and figures["folders"] == 0, figures


@pytest.mark.slow
def test_soak_models_and_steps_keep_memory_flat() -> None:
    figures = _churn(models=300, steps=33)  # 10^4 training steps in all
    print(f"soak: {figures}")
    assert figures["left"] == 0 and figures["folders"] == 0, figures
    assert figures["rss_growth_mb"] < 40, figures
