"""Support objects (GEMM cases, worker pool)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from graphc_runtime import Library

from graphc.codegen import build_library, cache, llvm_workers, support
from graphc.codegen.target import target_spec
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b


def _graph(ta: bool, tb: bool) -> Graph:
    g = Graph("mm")
    a = g.input("a", TensorType((5, 7) if ta else (7, 5)))
    w = g.input("w", TensorType((3, 5) if tb else (5, 3)))
    g.outputs["y"] = b.matmul(a, w, transpose_a=ta, transpose_b=tb)
    return g


def test_a_library_links_only_the_gemm_cases_it_uses(tmp_path: Path) -> None:
    graph = _graph(True, True)
    assert support.gemm_cases([graph]) == {(True, True)}
    so = build_library({"mm": graph}, tmp_path)
    assert sorted(p.name for p in tmp_path.glob("graphc_*.o")) == ["graphc_gemm_tt.o", "graphc_pool.o"]
    rng = np.random.default_rng(0)
    a, w = rng.random((5, 7), dtype=np.float32), rng.random((3, 5), dtype=np.float32)
    got = Library.load(so).programs["mm"](a=a, w=w)["y"]
    np.testing.assert_allclose(got, a.T @ w.T, rtol=1e-5)


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs binutils nm")
def test_support_symbols_are_not_exported(tmp_path: Path) -> None:
    so = build_library({"mm": _graph(False, True)}, tmp_path)
    exported = subprocess.run(["nm", "-D", "--defined-only", str(so)], capture_output=True, text=True,
                              check=True).stdout
    names = {line.split()[-1] for line in exported.splitlines() if line.strip()}
    assert "graphc_mm" in names
    assert not {n for n in names if n.startswith(("graphc_gemm", "graphc_parallel_for", "graphc_scratch"))}


def test_start_warms_up_the_llvm_children_only_when_a_gemm_object_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV, str(tmp_path / "cache"))
    started: list[bool] = []
    monkeypatch.setattr(llvm_workers, "start", lambda: started.append(True))
    spec = target_spec()
    support.start(spec, {(False, True)})  # an empty cache: the build will compile that case
    assert started == [True]
    build_library({"mm": _graph(False, True)}, tmp_path / "lib")  # now cached, on disk and in process
    started.clear()
    support.start(spec, {(False, True)})
    monkeypatch.setattr(support, "_builds", {})  # a fresh process: the object is on disk only
    support.start(spec, {(False, True)})
    support.start(spec, set())
    assert started == []
    support.start(spec, {(True, True)})
    assert started == [True]


def test_start_prepares_the_pool_object_a_build_then_links(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV, str(tmp_path / "cache"))
    support.start(target_spec(), set())
    with support._lock:
        pool = support._builds[cache.cache_dir(), "pool"]
    assert support.support_objects(target_spec(), set())["graphc_pool.o"] == pool.result()
