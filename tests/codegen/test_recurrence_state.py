"""Recurrences started from an initial state (Keras's initial_state=[h0, c0]), compiled: the forward
output and the gradients of every operand, h0 and c0 included, against the interpreter at a batch
that leaves a partial group of samples, and the same bits for every thread count and batch size."""

from __future__ import annotations

import numpy as np
import pytest
from graphc_runtime import get_num_threads, set_num_threads

from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients
from graphc.ops.recurrence import GATES, RECURRENCE, STATES
from tests.codegen.compiled import assert_matches, load, run_compiled

STEPS, UNITS = 5, 20  # 20 units: a whole vector of columns and a partial one
CELLS = [  # (cell, reverse, masked)
    ("simple", True, False),
    ("lstm", False, True),
    ("lstm", True, False),
    ("gru", True, True),
    ("gru_v1", False, True),
]
PER_SAMPLE = ("s", "d_z", "d_h0", "d_c0")  # outputs whose rows depend on their own sample alone


def _name(cell: str, reverse: bool, masked: bool) -> str:
    return f"{cell}{'_reverse' if reverse else ''}{'_masked' if masked else ''}"


def _graph(cell: str, reverse: bool, masked: bool) -> Graph:
    """s = recurrence(z, u, rb, [mask], h0, [c0]) and the gradients of sum(s * weights)."""
    graph = Graph(_name(cell, reverse, masked))
    width = GATES[cell] * UNITS
    z = graph.input("z", TensorType((None, STEPS, width)))
    u = graph.input("u", TensorType((UNITS, width)))
    rb = graph.input("rb", TensorType((width,)))
    mask = [graph.input("mask", TensorType((None, STEPS)))] if masked else []
    states = [graph.input(name, TensorType((None, UNITS))) for name in ("h0", "c0")[:STATES[cell]]]
    s = RECURRENCE(z, u, rb, *mask, *states, cell=cell, activation="tanh", recurrent_activation="sigmoid",
                   reverse=reverse, initial_state=True)
    graph.outputs["s"] = s
    weights = graph.input("weights", TensorType(s.shape))
    wrt = {"z": z, "u": u, "rb": rb, **{name: node for name, node in zip(("h0", "c0"), states, strict=False)}}
    for name, grad in zip(wrt, gradients(b.reduce_sum(s * weights), list(wrt.values())), strict=True):
        graph.outputs[f"d_{name}"] = grad
    return graph


def _feeds(graph: Graph, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Values for every input; a mask that skips the first time steps of some samples, so their
    initial state carries over."""
    feeds = {name: (rng.normal(size=node.type.concrete(batch)) * 0.5).astype(np.float32)
             for name, node in graph.inputs.items()}
    if "mask" in feeds:
        feeds["mask"] = (rng.uniform(size=(batch, STEPS)) > 0.4).astype(np.float32)
        feeds["mask"][::2, :2] = 0.0
    return feeds


GRAPHS = {_name(*case): _graph(*case) for case in CELLS}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory):
    return load(GRAPHS, tmp_path_factory.mktemp("recurrence_state"))


@pytest.fixture
def restore_threads():
    before = get_num_threads()
    yield
    set_num_threads(before)


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("name", GRAPHS)
def test_initial_state_compiled_matches_the_interpreter(library, name: str, batch: int) -> None:
    graph = GRAPHS[name]
    feeds = _feeds(graph, batch, np.random.default_rng(batch))
    assert_matches(graph, library, name, feeds, batch=batch, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", GRAPHS)
def test_initial_state_same_bits_for_every_thread_count_and_batch(library, restore_threads,
                                                                   name: str) -> None:
    graph = GRAPHS[name]
    feeds = _feeds(graph, 11, np.random.default_rng(3))
    runs = []
    for threads in (1, 2, 3):
        set_num_threads(threads)
        runs.append(run_compiled(library, name, feeds, {}, 11)[0])
    for other in runs[1:]:
        for key in runs[0]:
            np.testing.assert_array_equal(runs[0][key], other[key], err_msg=f"{name}: {key}")
    first = {key: value[:6] if key not in ("u", "rb") else value for key, value in feeds.items()}
    few = run_compiled(library, name, first, {}, 6)[0]
    for key in PER_SAMPLE:
        if key in few:
            np.testing.assert_array_equal(few[key], runs[0][key][:6], err_msg=f"{name}: {key}")
