"""The compile cache trusts nothing it reads back: damaged, altered and planted entries are rebuilt.

Each victim runs in a child process with its own cache directory, so that a crash (the old
cache gave SIGBUS, SIGSEGV and SIGILL on such entries) fails the test instead of the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graphc.codegen import cache

ROOT = Path(__file__).resolve().parents[2]

VICTIM = """
import sys, warnings
import numpy as np
warnings.simplefilter("always")
from graphc.keras.layers import Dense
from graphc.keras.models import Sequential
for _ in range(int(sys.argv[1])):
    model = Sequential([Dense(6, activation="relu", input_shape=(3,)), Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    weights = model.get_weights()
    model.set_weights([np.full(w.shape, 0.1 * (i + 1), np.float32) for i, w in enumerate(weights)])
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    model.train_on_batch(x, np.ones((4, 2), np.float32))
    print(repr(model.predict(x, verbose=0).round(5).tolist()))
"""


def _run(cache_dir: Path, models: int = 1) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(cache_dir)}
    done = subprocess.run([sys.executable, "-c", VICTIM, str(models)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, f"victim died with {done.returncode}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def warm(tmp_path_factory) -> tuple[Path, str]:
    """A cache directory warmed by one run, and that run's output (the oracle)."""
    directory = tmp_path_factory.mktemp("warm") / "cache"
    return directory, _run(directory).stdout


def _copy(warm: tuple[Path, str], tmp_path: Path) -> Path:
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    for entry in warm[0].iterdir():
        (directory / entry.name).write_bytes(entry.read_bytes())
    return directory


def _entries(directory: Path, suffix: str) -> list[Path]:
    found = [p for p in directory.iterdir() if p.name.endswith(suffix)]
    assert found, f"no {suffix} entries in {sorted(p.name for p in directory.iterdir())}"
    return found


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(len(data) // 3, len(data), max(1, len(data) // 7)):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_manifest(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b'"static_bytes": ', b'"static_bytes": 0, "x": '))


@pytest.mark.parametrize("suffix, damage", [
    (".rec.so", _truncate), (".o", _truncate), (".rec.so", _flip), (".o", _flip),
    (".rec.json", _edit_manifest),
], ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_a_damaged_entry_is_evicted_and_rebuilt(warm, tmp_path, suffix, damage) -> None:
    directory = _copy(warm, tmp_path)
    for entry in _entries(directory, suffix):
        damage(entry)
    if suffix == ".o":  # objects are read only when no library entry serves the programs
        for entry in [*_entries(directory, ".so"), *_entries(directory, ".rec.json")]:
            entry.unlink()
    done = _run(directory)
    assert done.stdout == warm[1]  # the same numbers as a clean run
    assert "evicted" in done.stderr
    assert _run(directory).stderr.count("evicted") == 0  # rebuilt entries are sound


def test_a_planted_library_never_runs(warm, tmp_path) -> None:
    directory = _copy(warm, tmp_path)
    marker = tmp_path / "constructor-ran"
    source = tmp_path / "evil.c"
    source.write_text('#include <stdio.h>\n__attribute__((constructor)) static void run(void) {\n'
                      f'    FILE *f = fopen("{marker}", "w"); if (f) fclose(f);\n}}\n')
    evil = tmp_path / "evil.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(evil), str(source)], check=True)
    for entry in _entries(directory, ".so"):  # the programs' libraries and the linked ones
        entry.write_bytes(evil.read_bytes())
    done = _run(directory)
    assert not marker.exists(), "the planted library's constructor ran"
    assert done.stdout == warm[1]


@pytest.mark.parametrize("mode", [0o777])
def test_a_directory_others_can_write_is_not_used(warm, tmp_path, mode) -> None:
    directory = _copy(warm, tmp_path)
    os.chmod(directory, mode)
    before = sorted(p.name for p in directory.iterdir())
    done = _run(directory)
    assert done.stdout == warm[1] and "is not used" in done.stderr
    assert sorted(p.name for p in directory.iterdir()) == before  # nothing read or written


def test_leftover_temporary_files_are_pruned_but_a_writer_in_progress_is_kept(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    stale, fresh = tmp_path / ".tmp-dead.o", tmp_path / ".tmp-alive.o"
    stale.write_bytes(b"x" * 10)
    fresh.write_bytes(b"y" * 10)
    old = time.time() - 2 * cache.TEMP_GRACE_S
    os.utime(stale, (old, old))
    cache.store("k" * 64, ".o", b"payload")
    assert not stale.exists() and fresh.exists()
    assert cache.load("k" * 64, ".o") == b"payload"


def test_identical_models_share_entries_whatever_their_auto_names(tmp_path) -> None:
    one, many = tmp_path / "one", tmp_path / "many"
    _run(one, models=1)
    done = _run(many, models=6)
    assert len(set(done.stdout.splitlines())) == 1
    assert sorted(p.name for p in many.iterdir()) == sorted(p.name for p in one.iterdir())
