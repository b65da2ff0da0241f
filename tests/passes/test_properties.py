"""Property tests: every pass and every pipeline leaves the reference interpreter's results unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphc.codegen import build_library
from graphc.interpreter import evaluate
from graphc.ir import Graph, verify
from graphc.passes import PIPELINES, run_pipeline
from graphc.passes.fusion import PASSES as FUSION_PASSES
from graphc.passes.kernels import partition
from graphc.passes.pipeline import _CLEANUP
from tests.codegen.compiled import run_compiled
from tests.passes.random_graphs import random_graphs, random_values

ALL_PASSES = {p.name: p for p in (*_CLEANUP, *FUSION_PASSES)}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_same_results(before: Graph, after: Graph, seed: int, batch: int, what: str) -> None:
    feeds, state = random_values(before, seed, batch)
    want_out, want_upd = evaluate(before, feeds, state)
    got_out, got_upd = evaluate(after, feeds, state)
    assert got_out.keys() == want_out.keys() and got_upd.keys() == want_upd.keys()
    for kind, want, got in (("output", want_out, got_out), ("update", want_upd, got_upd)):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5,
                                       err_msg=f"{what}: {kind} {name!r}")


@SETTINGS
@given(random_graphs(), st.integers(0, 2**16), st.sampled_from([1, 3]))
def test_every_pass_preserves_the_interpreter_results(graph: Graph, seed: int, batch: int) -> None:
    for name, pass_ in ALL_PASSES.items():
        result = pass_(graph)
        verify(result)
        assert_same_results(graph, result, seed, batch, f"pass {name}")


@SETTINGS
@given(random_graphs(), st.integers(0, 2**16), st.sampled_from([1, 3]))
def test_every_pipeline_preserves_the_interpreter_results(graph: Graph, seed: int, batch: int) -> None:
    recorded = len(graph.nodes)
    for level in PIPELINES:
        result = run_pipeline(graph, level)
        partition(result.graph)  # the fusion contract holds: codegen accepts the groups
        assert_same_results(graph, result.graph, seed, batch, f"O{level}")
    assert len(graph.nodes) == recorded, "passes must not modify their input graph"


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(max_steps=14), st.integers(0, 2**16))
def test_compiled_o0_and_o3_agree_with_each_other_and_the_interpreter(
        tmp_path_factory: pytest.TempPathFactory, graph: Graph, seed: int) -> None:
    programs = {"o0": run_pipeline(graph, 0).graph, "o3": run_pipeline(graph, 3).graph}
    library = build_library(programs, tmp_path_factory.mktemp("o0o3"), name="random")
    from graphc_runtime import Library

    lib = Library.load(library)
    feeds, state = random_values(graph, seed, 3)
    want_out, want_upd = evaluate(graph, feeds, state)
    results = {name: run_compiled(lib, name, feeds, state) for name in programs}
    for name in want_out:
        for level in programs:
            np.testing.assert_allclose(results[level][0][name], want_out[name], rtol=1e-4, atol=1e-5,
                                       err_msg=f"{level}: output {name!r}")
        np.testing.assert_allclose(results["o0"][0][name], results["o3"][0][name], rtol=1e-4, atol=1e-5)
    for name, value in want_upd.items():
        for level in programs:
            np.testing.assert_allclose(results[level][1][name], value, rtol=1e-4, atol=1e-5,
                                       err_msg=f"{level}: state {name!r}")
