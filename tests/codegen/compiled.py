"""Shared helpers: compile programs into one library and compare it with the interpreter."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from graphc_runtime import Library, StateStore, set_num_threads

from graphc.codegen import build_library
from graphc.interpreter import evaluate
from graphc.ir.graph import Graph

EXACT_OPS = {"random_uniform", "argmax", "one_hot", "greater", "greater_equal", "equal", "sign"}


def load(programs: Mapping[str, Graph], out_dir: Path, name: str = "model") -> Library:
    return Library.load(build_library(programs, out_dir, name=name))


def run_compiled(
    library: Library, name: str, feeds: Mapping[str, np.ndarray], state: Mapping[str, np.ndarray],
    batch: int | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Call one program on a fresh store holding `state`; returns (outputs, state after the call)."""
    program = library.programs[name]
    store = StateStore(program.states)
    for key, value in state.items():
        store.assign(key, value)
    program.bind(store)
    outputs = program(batch, **feeds)
    return outputs, {key: store[key].copy() for key in store.names()}


def outputs_by_thread_count(library: Library, name: str, feeds: Mapping[str, np.ndarray], output: str = "y",
                             ) -> list[np.ndarray]:
    """`output` of one call on 1 and on 2 threads (the default count restored after)."""
    results = []
    for threads in (1, 2):
        set_num_threads(threads)
        try:
            results.append(run_compiled(library, name, feeds, {})[0][output])
        finally:
            set_num_threads(None)
    return results


def assert_matches(
    graph: Graph, library: Library, name: str, feeds: Mapping[str, np.ndarray],
    state: Mapping[str, np.ndarray] | None = None, batch: int | None = None,
    rtol: float = 1e-5, atol: float = 1e-5,
) -> None:
    """Compiled outputs and state updates equal the interpreter's (exactly for exact ops)."""
    state = dict(state or {})
    expected, expected_updates = evaluate(graph, feeds, state, batch=batch)
    outputs, after = run_compiled(library, name, feeds, state, batch)
    assert outputs.keys() == expected.keys()
    for key, value in expected.items():
        exact = graph.outputs[key].op in EXACT_OPS
        np.testing.assert_allclose(outputs[key], value, rtol=0 if exact else rtol, atol=0 if exact else atol,
                                   err_msg=f"{name}: output {key!r}")
    for key in state:
        want = expected_updates.get(key, state[key])
        np.testing.assert_allclose(after[key], want, rtol=rtol, atol=atol, err_msg=f"{name}: state {key!r}")
