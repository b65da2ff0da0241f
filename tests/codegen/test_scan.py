"""The scan compiled to a native loop (its body an internal program) against the interpreter, through
the optimizing pipeline, with its autodiff-built reverse scan."""

from __future__ import annotations

import numpy as np
import pytest
from graphc_runtime import set_num_threads

import tests.ops.test_scan as cases
from graphc.codegen import compile_programs
from graphc.codegen.lowering.scan import MAX_GROUPS, MIN_GROUP_ROWS
from graphc.ops.scan import runs_by_rows
from graphc.passes.pipeline import run_pipeline
from tests.codegen.compiled import assert_matches, load, run_compiled
from tests.ops.test_scan import build, feeds


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory):
    recorded = {
        "plain": build(),
        "masked": build(reverse=True, with_mask=True, counter=True),
        "history": build(history=True, with_mask=True),
        "history_reverse_counter": build(reverse=True, history=True, with_mask=True, counter=True),
    }
    programs = {name: run_pipeline(graph, 2).graph for name, graph in recorded.items()}
    return load(programs, tmp_path_factory.mktemp("scan")), recorded


@pytest.mark.parametrize("batch", [1, 6])
@pytest.mark.parametrize("name", ["plain", "masked", "history", "history_reverse_counter"])
def test_compiled_scan_and_its_gradient_match_the_interpreter(library, name, batch) -> None:
    lib, recorded = library
    data, state = feeds(np.random.default_rng(batch), batch=batch, with_mask=name != "plain")
    data = {k: v.astype(np.float32) for k, v in data.items()}
    state = {k: v.astype(np.float32) for k, v in state.items()}
    assert_matches(recorded[name], lib, name, data, state, batch=batch, rtol=2e-5, atol=2e-5)


def test_code_size_does_not_depend_on_the_number_of_steps(monkeypatch) -> None:
    """The same nodes, and the same LLVM IR for the scans' bodies, for 4 and 200 steps (the loss around
    them loops over T * H values, which vectorizes differently)."""
    sizes = []
    for steps in (cases.T, 50 * cases.T):
        monkeypatch.setattr(cases, "T", steps)
        graph = run_pipeline(cases.build(), 2).graph
        text = compile_programs({"step": graph}).llvm_ir["step"]
        functions = [f.split("\n}\n")[0] for f in text.split("\ndefine ")[1:]]  # each up to its end
        bodies = [f for f in functions if "_body" in f.split("(")[0]]
        sizes.append((len(graph.nodes), len(bodies), sum(f.count("\n") for f in bodies)))
    assert sizes[0] == sizes[1] and sizes[0][1] > 0


@pytest.mark.parametrize("batch", [MIN_GROUP_ROWS + 1, 40, MAX_GROUPS * MIN_GROUP_ROWS + 3])
@pytest.mark.parametrize("name", ["plain", "history"])
def test_groups_of_rows_match_the_interpreter_and_every_thread_count(library, restore_threads, name,
                                                                     batch) -> None:
    """Batches of several groups of rows (each running every step alone, the last one short) give the
    interpreter's values and the same bits on one thread as on two."""
    lib, recorded = library
    scans = [n for n in recorded[name].nodes if n.op == "scan"]
    assert all(runs_by_rows(n.attrs["body"], n.attrs["carries"]) for n in scans)
    data, state = feeds(np.random.default_rng(batch), batch=batch, with_mask=name == "history")
    data = {k: v.astype(np.float32) for k, v in data.items()}
    state = {k: v.astype(np.float32) for k, v in state.items()}
    assert_matches(recorded[name], lib, name, data, state, batch=batch, rtol=2e-5, atol=2e-5)
    runs = []
    for threads in (1, 2):
        set_num_threads(threads)
        runs.append(run_compiled(lib, name, data, state, batch))
    for key, value in runs[0][0].items():
        np.testing.assert_array_equal(runs[1][0][key], value, err_msg=key)
