"""Compiled recurrences with their optional operands (a time mask, recurrent dropout, an initial state):
the graphs, their feeds and the same-bits check shared by the recurrence codegen tests."""

from __future__ import annotations

import numpy as np
from graphc_runtime import Library, set_num_threads

from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients
from graphc.ops.recurrence import GATES, RECURRENCE, STATES
from tests.codegen.compiled import run_compiled

STEPS, UNITS = 5, 20  # 20 units: a whole vector of columns and a partial one
RATE = 0.25  # rmask values 0 and 1 / (1 - RATE)
PER_SAMPLE = ("s", "d_z", "d_h0", "d_c0")  # outputs whose rows depend on their own sample alone


def recurrence_graph(name: str, cell: str, reverse: bool, masked: bool, initial: bool,
                     dropout: bool) -> Graph:
    """s = recurrence(z, u, rb, [mask], [rmask], [h0, [c0]]) and the gradients of sum(s * weights)."""
    graph = Graph(name)
    width = GATES[cell] * UNITS
    z = graph.input("z", TensorType((None, STEPS, width)))
    u = graph.input("u", TensorType((UNITS, width)))
    rb = graph.input("rb", TensorType((width,)))
    mask = [graph.input("mask", TensorType((None, STEPS)))] if masked else []
    rmask = [graph.input("rmask", TensorType((None, UNITS)))] if dropout else []
    states = [graph.input(n, TensorType((None, UNITS))) for n in ("h0", "c0")[:STATES[cell] * initial]]
    flags = {"recurrent_dropout": True} if dropout else {}
    s = RECURRENCE(z, u, rb, *mask, *rmask, *states, cell=cell, activation="tanh",
                   recurrent_activation="sigmoid", reverse=reverse, initial_state=initial, **flags)
    graph.outputs["s"] = s
    weights = graph.input("weights", TensorType(s.shape))
    wrt = {"z": z, "u": u, "rb": rb, **dict(zip(("h0", "c0"), states, strict=False))}
    for key, grad in zip(wrt, gradients(b.reduce_sum(s * weights), list(wrt.values())), strict=True):
        graph.outputs[f"d_{key}"] = grad
    return graph


def recurrence_feeds(graph: Graph, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Values for every input: a time mask that skips the first steps of some samples (so an initial
    state carries over), an rmask of 0 and 1 / (1 - RATE)."""
    feeds = {key: (rng.normal(size=node.type.concrete(batch)) * 0.5).astype(np.float32)
             for key, node in graph.inputs.items()}
    if "rmask" in feeds:
        feeds["rmask"] = ((rng.uniform(size=(batch, UNITS)) >= RATE) / (1.0 - RATE)).astype(np.float32)
    if "mask" in feeds:
        feeds["mask"] = (rng.uniform(size=(batch, STEPS)) > 0.4).astype(np.float32)
        feeds["mask"][::2, :2] = 0.0
    return feeds


def assert_same_bits_for_every_thread_count_and_batch(library: Library, name: str, graph: Graph) -> None:
    """1, 2 and 3 threads give the same bits, and the first 6 samples' rows do not change when the
    batch holds only them."""
    feeds = recurrence_feeds(graph, 11, np.random.default_rng(3))
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
