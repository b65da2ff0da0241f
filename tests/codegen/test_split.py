"""A large FULL program compiles as several objects side by side (its FULL kernels in two balanced
groups, a kernel worth a job of its own as soon as it is emitted, the short kernels of an inference
program in a tiered unit): same results, nothing more exported."""

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
    full = [name for name, unit in compiled.units.items() if not unit.tiered]
    assert sorted(full) == ["p", "p_part1"]
    assert [unit.tiered for unit in compiled.units.values()].count(True) == 1  # the 10-wide softmax
    split = Library.load(build_library({"p": graph}, tmp_path / "split")).programs["p"](**_feeds())
    monkeypatch.setattr(codegen, "SPLIT_COST", 10**9)
    whole_units = compile_programs({"p": graph}).units
    assert [name for name, unit in whole_units.items() if not unit.tiered] == ["p"]
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
    in_process = compile_ir(unit.texts, spec, hidden=True, pipeline=unit.pipeline, keep=unit.keep)
    assert llvm_workers.wait(job) == in_process


def test_a_kernel_worth_a_job_goes_to_a_child_as_soon_as_it_is_emitted(tmp_path, monkeypatch) -> None:
    """With SPLIT_COST at 1 every kernel but the short ones is such a kernel: each is its own unit,
    submitted before the next kernel is emitted; the short ones form one tiered unit; the entry
    compiles here alone; the results are the bits of the usual grouping."""
    events: list[str] = []
    done, submit = codegen._KernelTexts.done, codegen.Unit.submit

    def record_done(self, module) -> None:
        events.append(f"emitted {module.name} {self.short[module.name]}")
        done(self, module)

    def record_submit(self, spec, hand_over=False):
        events.append(f"submitted {'+'.join(sorted(self.keep))}")
        return submit(self, spec, hand_over)

    monkeypatch.setattr(codegen._KernelTexts, "done", record_done)
    monkeypatch.setattr(codegen.Unit, "submit", record_submit)
    monkeypatch.setattr(codegen, "SPLIT_COST", 1)
    compiled = compile_programs({"p": _large()})
    emitted = [event.split()[1:] for event in events if event.startswith("emitted")]
    early = [name for name, light in emitted if light == "False"]
    light = [name for name, light in emitted if light == "True"]
    assert len(early) > 3 and light
    expected = []
    for name, is_light in emitted:
        expected += [f"emitted {name} {is_light}"] + ([f"submitted {name}"] if is_light == "False" else [])
    assert events[:len(expected)] == expected
    assert len(compiled.units["p"].texts) == 1  # the entry alone
    parts = {tuple(sorted(unit.keep)): unit.tiered for name, unit in compiled.units.items() if name != "p"}
    assert parts == {**{(name,): False for name in early}, tuple(sorted(light)): True}
    split = Library.load(build_library({"p": _large()}, tmp_path / "split")).programs["p"](**_feeds())
    monkeypatch.setattr(codegen, "SPLIT_COST", 10**9)
    whole = Library.load(build_library({"p": _large()}, tmp_path / "whole")).programs["p"](**_feeds())
    for name, value in whole.items():
        np.testing.assert_array_equal(split[name], value, err_msg=name)
