"""Targets: host CPU by default, another CPU on request; the object, IR and manifest agree."""

from __future__ import annotations

import llvmlite.binding as llvm
import numpy as np
import pytest
from graphc_runtime import Library

from graphc.codegen import build_library, compile_programs
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b


def _graph() -> Graph:
    g = Graph("small")
    x = g.input("x", TensorType((None, 19)))
    w = g.input("w", TensorType((21, 19)))
    g.outputs["y"] = b.tanh(b.matmul(x, w, transpose_b=True))
    return g


def test_host_target_by_default() -> None:
    compiled = compile_programs({"small": _graph()})
    target = compiled.manifest["target"]
    assert target["cpu"] == llvm.get_host_cpu_name()
    assert target["features"] == llvm.get_host_cpu_features().flatten()
    assert compiled.objects["small"][:4] == b"\x7fELF"
    assert 'define i32 @"graphc_small"(i64' in compiled.llvm_ir["small"]


def test_baseline_cpu_runs_and_is_recorded(tmp_path) -> None:
    host = Library.load(build_library({"small": _graph()}, tmp_path / "host"))
    baseline = Library.load(build_library({"small": _graph()}, tmp_path / "x86", cpu="x86-64"))
    assert baseline.manifest["target"]["cpu"] == "x86-64" and baseline.manifest["target"]["features"] == ""
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(3, 19)).astype(np.float32), rng.normal(size=(21, 19)).astype(np.float32)
    for library in (host, baseline):
        y = library.programs["small"](x=x, w=w)["y"]
        np.testing.assert_allclose(y, np.tanh(x @ w.T), rtol=1e-5, atol=1e-6)


def test_program_names_must_be_c_identifiers() -> None:
    with pytest.raises(ValueError, match="'bad name'"):
        compile_programs({"bad name": _graph()})
