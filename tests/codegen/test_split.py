"""A large FULL program compiles as two objects side by side: same results, nothing more exported."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from graphc_runtime import Library

import graphc.codegen as codegen
from graphc.codegen import build_library, compile_programs, llvm_workers, pipeline_for
from graphc.codegen import cache as disk_cache
from graphc.codegen.target import FULL, compile_ir, target_spec
from graphc.interpreter import evaluate
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(disk_cache.ENV, str(tmp_path / "cache"))


def _large() -> Graph:
    """Kernels over 1,100 features (reductions, pointwise chains, a GEMM with an epilogue) and a softmax
    over 10 classes."""
    g = Graph("large")
    x = g.input("x", TensorType((None, 1100)))
    w = g.input("w", TensorType((1100, 64)))
    h = b.tanh(b.matmul(x, w)) * 0.5
    e = b.exp(h - b.reduce_max(h, [1], keepdims=True))
    g.outputs["softmax"] = e / b.reduce_sum(e, [1], keepdims=True)
    g.outputs["norms"] = b.sqrt(b.reduce_sum(b.square(x), [1]))
    g.outputs["scaled"] = b.sigmoid(x * 3.0 - 1.0) * b.log(b.abs_(x) + 1.0)
    g.outputs["column"] = b.reduce_mean(x * x, [0])
    z = g.input("z", TensorType((None, 10)))
    e = b.exp(z - b.reduce_max(z, [1], keepdims=True))
    g.outputs["classes"] = e / b.reduce_sum(e, [1], keepdims=True)
    return g


def _feeds() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x": rng.normal(size=(9, 1100)).astype(np.float32),
            "w": (rng.normal(size=(1100, 64)) / 30).astype(np.float32),
            "z": rng.normal(size=(9, 10)).astype(np.float32)}


def test_two_objects_compute_what_one_does(tmp_path, monkeypatch) -> None:
    graph = _large()
    assert pipeline_for(graph) is FULL
    compiled = compile_programs({"p": graph})
    assert set(compiled.objects) == {"p", "p_part1"}
    assert compiled.units["p"].pipeline is compiled.units["p_part1"].pipeline is FULL
    split = Library.load(build_library({"p": graph}, tmp_path / "split")).programs["p"](**_feeds())
    monkeypatch.setattr(codegen, "SPLIT_COST", 10**9)
    assert set(compile_programs({"p": graph}).objects) == {"p"}
    whole = Library.load(build_library({"p": graph}, tmp_path / "whole")).programs["p"](**_feeds())
    expected, _ = evaluate(graph, _feeds(), {})
    for name, value in whole.items():
        np.testing.assert_array_equal(split[name], value, err_msg=name)
        np.testing.assert_allclose(value, expected[name], rtol=1e-5, atol=1e-5, err_msg=name)


def test_the_library_exports_the_entry_and_not_the_kernels(tmp_path) -> None:
    compiled = compile_programs({"p": _large()})
    kernels = sorted(compiled.units["p_part1"].keep)
    assert kernels and all(name.startswith("graphc_p_k") for name in kernels)
    library = ctypes.CDLL(str(build_library({"p": _large()}, tmp_path)))
    assert hasattr(library, "graphc_p")
    assert not any(hasattr(library, name) for name in kernels)  # hidden: linked, not exported


def test_a_child_links_several_modules_into_one_object() -> None:
    spec = target_spec()
    unit = compile_programs({"p": _large()}).units["p_part1"]
    assert len(unit.texts) > 1
    job = llvm_workers.submit(unit.texts, spec, hidden=True, pipeline=unit.pipeline, keep=unit.keep)
    in_process = compile_ir(unit.texts, spec, hidden=True, pipeline=unit.pipeline, keep=unit.keep)[0]
    assert llvm_workers.wait(job) == in_process
