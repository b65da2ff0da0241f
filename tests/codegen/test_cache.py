"""The on-disk compile cache: entries appear, a second process compiles nothing, keys separate targets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from graphc_runtime import Library

from graphc.codegen import build_library, cache, compile_programs
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b

SECOND_PROCESS = """
import sys
import graphc.codegen as codegen
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b

def refuse(*args, **kwargs):
    raise SystemExit("compiled again")

codegen.compile_ir = refuse
codegen.link_shared = refuse
g = Graph("g")
g.outputs["y"] = b.tanh(b.matmul(g.input("x", TensorType((None, 9))), g.input("w", TensorType((9, 4)))))
codegen.build_library({"g": g}, sys.argv[1])
print("ok")
"""


def _graph() -> Graph:
    g = Graph("g")
    g.outputs["y"] = b.tanh(b.matmul(g.input("x", TensorType((None, 9))), g.input("w", TensorType((9, 4)))))
    return g


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV, str(root))
    return root


def _entries(directory: Path) -> list[Path]:
    """The cache's entries, without its usage ledger."""
    return [p for p in directory.iterdir() if p.name != cache.USAGE_FILE]


def test_second_process_compiles_and_links_nothing(cache_dir: Path, tmp_path: Path) -> None:
    so = build_library({"g": _graph()}, tmp_path / "first")
    kinds = sorted(p.name.split(".", 1)[1].removeprefix(cache.FORMAT[1:] + ".") for p in _entries(cache_dir))
    assert kinds == ["gemm.o", "o", "pool.o", "so"]  # the program, its GEMM case, the pool, the library
    done = subprocess.run([sys.executable, "-c", SECOND_PROCESS, str(tmp_path / "second")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    x = np.linspace(-1, 1, 18, dtype=np.float32).reshape(2, 9)
    w = np.linspace(-2, 2, 36, dtype=np.float32).reshape(9, 4)
    first = Library.load(so).programs["g"](x=x, w=w)["y"]
    second = Library.load(tmp_path / "second" / "libmodel.so").programs["g"](x=x, w=w)["y"]
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, np.tanh(x @ w), rtol=1e-6, atol=1e-6)


def test_different_targets_get_different_entries(cache_dir: Path) -> None:
    host = compile_programs({"g": _graph()})
    baseline = compile_programs({"g": _graph()}, cpu="x86-64")
    assert host.objects["g"] != baseline.objects["g"]
    assert len(list(cache_dir.glob("*.o"))) == 2


def test_cache_can_be_switched_off(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(cache.ENV, "off")
    assert cache.cache_dir() is None
    build_library({"g": _graph()}, tmp_path)
    assert cache.load("anything", ".o") is None


def test_unwritable_cache_is_skipped(monkeypatch, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(cache.ENV, str(blocker / "cache"))
    so = build_library({"g": _graph()}, tmp_path / "out")
    assert so.is_file()


def test_cache_stays_under_its_limit_dropping_least_recently_used(cache_dir: Path, monkeypatch) -> None:
    """Over the limit (room for 3.5 entries), the least recently used go until 3/4 of it is left (two)."""
    monkeypatch.setenv(cache.LIMIT_ENV, str(3.5 * 1040 / 2**20))
    for index, key in enumerate(("old", "used", "mid", "new")):
        cache.store(key, ".o", bytes(1000))
        os.utime(cache.path_of(key, ".o"), (index, index))
        if key == "mid":
            assert cache.load("old", ".o") is not None  # a hit makes "old" the most recent
    kept = sorted(p.name for p in _entries(cache_dir))
    assert kept == [cache.path_of(key, ".o").name for key in ("new", "old")]


def test_a_prune_leaves_room_so_the_next_writes_do_not_scan(cache_dir: Path, monkeypatch) -> None:
    """A full cache pruned to the low-water mark takes a quarter of its limit before it scans again:
    pruning to the limit itself had every later write of a full cache scan the whole directory."""
    monkeypatch.setenv(cache.LIMIT_ENV, str(8.5 * 1040 / 2**20))  # a 1000-byte entry takes 1040
    for index in range(9):
        cache.store(f"fill{index}", ".o", bytes(1000))
    assert len(_entries(cache_dir)) == 6
    scans = []
    real_prune = cache.prune
    monkeypatch.setattr(cache, "prune", lambda root, limit: scans.append(root) or real_prune(root, limit))
    cache.store("after0", ".o", bytes(1000))
    cache.store("after1", ".o", bytes(1000))
    assert scans == []
    cache.store("after2", ".o", bytes(1000))
    assert scans == [cache_dir] and len(_entries(cache_dir)) == 6


def test_cache_limit_must_be_a_number(monkeypatch) -> None:
    monkeypatch.setenv(cache.LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match="GRAPHC_CACHE_MAX_MB"):
        cache.limit_bytes()


def test_a_write_under_the_limit_does_not_scan_the_directory(cache_dir: Path, monkeypatch) -> None:
    cache.store("first", ".o", bytes(10))  # no ledger yet: one scan, which writes it
    scans = []
    monkeypatch.setattr(cache, "prune", lambda root, limit: scans.append(root) or 0)
    cache.store("second", ".o", bytes(10))
    assert scans == []
    total, _ = (cache_dir / cache.USAGE_FILE).read_text().split()
    assert int(total) == sum(p.stat().st_size for p in _entries(cache_dir))


@pytest.mark.parametrize("ledger", ["garbage", "10 0.0", ""])
def test_a_corrupt_or_old_ledger_makes_a_write_scan_again(cache_dir: Path, monkeypatch, ledger) -> None:
    cache_dir.mkdir(mode=0o700, exist_ok=True)
    (cache_dir / cache.USAGE_FILE).write_text(ledger)
    scans = []
    monkeypatch.setattr(cache, "prune", lambda root, limit: scans.append(root) or 0)
    cache.store("key", ".o", bytes(10))
    assert scans == [cache_dir]


def test_source_digest_reads_the_named_packages_only(tmp_path: Path) -> None:
    files = {"passes/a.py": "x = 1", "passes/__pycache__/a.cpython.pyc": "junk",
             "codegen/native/pool.c": "int x;", "frontend/b.py": "y = 2", "passes/notes.txt": "-"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    def digest() -> str:
        cache.source_digest.cache_clear()
        return cache.source_digest(tmp_path, ("passes", "codegen"))

    base = digest()
    for outside in ("frontend/b.py", "passes/notes.txt", "passes/__pycache__/a.cpython.pyc"):
        (tmp_path / outside).write_text("changed")
        assert digest() == base
    (tmp_path / "codegen/native/pool.c").write_text("int y;")
    assert digest() != base
    (tmp_path / "codegen/native/pool.c").write_text("int x;")
    assert digest() == base
    (tmp_path / "passes/a.py").rename(tmp_path / "passes/b.py")  # a file's name is part of the digest
    assert digest() != base
    assert cache.source_digest(tmp_path) != cache.source_digest(tmp_path, ("passes", "codegen"))
