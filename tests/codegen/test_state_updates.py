"""State updates: in place when safe, copied otherwise, always equal to the interpreter."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from graphc_runtime import StateStore

from graphc.codegen.buffers import assign_buffers
from graphc.interpreter import evaluate
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from graphc.passes.kernels import Kernel, partition
from tests.codegen.compiled import load


def _sgd() -> Graph:
    g = Graph("sgd")
    x = g.input("x", TensorType((None, 7)))
    w = g.state("w", TensorType((7,)))
    g.outputs["y"] = b.reduce_sum(x * w, [1])
    g.updates["w"] = w - 0.1 * b.reduce_sum(x, [0])
    return g


def _read_after_update() -> Graph:
    g = Graph("late")
    x = g.input("x", TensorType((None, 7)))
    w = g.state("w", TensorType((7,)))
    g.updates["w"] = w * 0.5 + 1.0
    g.outputs["y"] = x * w
    return g


def _swap() -> Graph:
    g = Graph("swap")
    a = g.state("a", TensorType((3,)))
    c = g.state("c", TensorType((3,)))
    g.updates["a"] = c
    g.updates["c"] = a
    g.outputs["sum"] = a + c
    return g


def _old_value_output() -> Graph:
    g = Graph("old")
    w = g.state("w", TensorType((2, 3)))
    g.outputs["old"] = w
    g.outputs["new"] = w + 1.0
    g.updates["w"] = g.outputs["new"]
    return g


def _assorted() -> Graph:
    g = Graph("assorted")
    x = g.input("x", TensorType((None, 6)))
    w = g.state("w", TensorType((2, 3)))
    step = g.state("step", TensorType(()))
    g.state("fixed", TensorType((4,)))
    same = g.state("same", TensorType((3,)))
    g.updates["w"] = b.reshape(b.reshape(w, (6,)) * 2.0 + b.reduce_mean(x, [0]), (2, 3))
    g.updates["step"] = step + 1.0
    g.updates["fixed"] = g.constant(np.array([1.0, 2.0, 3.0, 4.0]))
    g.updates["same"] = same
    g.outputs["echo"] = x
    g.outputs["step"] = step * 1.0
    g.outputs["w_twice"] = w
    return g


GRAPHS = {g.name: g for g in (_sgd(), _read_after_update(), _swap(), _old_value_output(), _assorted())}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory):
    return load(GRAPHS, tmp_path_factory.mktemp("states"))


@pytest.mark.parametrize("name", list(GRAPHS))
def test_two_calls_match_the_interpreter(library, name: str) -> None:
    graph = GRAPHS[name]
    program = library.programs[name]
    rng = np.random.default_rng(3)
    state = {n: rng.normal(size=node.type.concrete(0)).astype(np.float32) for n, node in graph.states.items()}
    store = StateStore(program.states)
    for key, value in state.items():
        store.assign(key, value)
    program.bind(store)
    for batch in (5, 1):
        feeds = {n: rng.normal(size=node.type.concrete(batch)).astype(np.float32)
                 for n, node in graph.inputs.items()}
        expected, updates = evaluate(graph, feeds, state)
        outputs = program(**feeds)
        for key, value in expected.items():
            np.testing.assert_allclose(outputs[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
        state = {**state, **updates}
        for key, value in state.items():
            np.testing.assert_allclose(store[key], value, rtol=1e-5, atol=1e-6, err_msg=key)


def test_sgd_update_is_written_in_place() -> None:
    graph = _sgd()
    assert assign_buffers(graph, partition(graph)).epilogue == []


def test_update_read_later_is_copied_at_the_end() -> None:
    graph = _read_after_update()
    plan = assign_buffers(graph, partition(graph))
    assert [c.dst for c in plan.epilogue] == [plan.locations[graph.states["w"]]]


def test_misaligned_read_in_the_same_kernel_blocks_in_place() -> None:
    for perm, in_place in (((1, 0), False), ((0, 1), True)):
        g = Graph("fused")
        w = g.state("w", TensorType((4, 4)))
        moved = b.transpose(w, perm)
        new = w - moved
        g.updates["w"] = new
        plan = assign_buffers(g, [Kernel((moved, new), (new,))])
        assert (plan.epilogue == []) is in_place


def test_workspace_offsets_are_aligned_and_affine() -> None:
    g = Graph("ws")
    x = g.input("x", TensorType((None, 3)))
    t = b.tanh(x)
    s = b.reduce_sum(t)
    e = b.exp(t)
    g.outputs["y"] = e * s * t  # t stays live beside e, so the two cannot share a slot
    plan = assign_buffers(g, partition(g))
    where = {n: (plan.locations[n].kind, plan.locations[n].static, plan.locations[n].per_batch)
             for n in (s, t, e)}
    # Static slots first, then per-batch slots at static_bytes + k * N, each rounded up to 64 bytes.
    assert where == {s: ("workspace", 0, 0), t: ("workspace", 64, 0), e: ("workspace", 64, 64)}
    assert (plan.static_bytes, plan.per_batch_bytes) == (64, 128)


def test_batch_below_one_returns_a_status_without_touching_memory(library) -> None:
    entry = ctypes.CDLL(str(library.path))["graphc_sgd"]
    entry.restype = ctypes.c_int32
    entry.argtypes = (ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)
    x = np.ones((2, 7), np.float32)
    w = np.full(7, 3.0, np.float32)
    y = np.full(2, -9.0, np.float32)
    argv = (ctypes.c_void_p * 3)(x.ctypes.data, w.ctypes.data, y.ctypes.data)
    for batch in (0, -1, -(2**40)):
        assert entry(batch, argv, None) != 0
    assert (w == 3.0).all() and (y == -9.0).all()
    workspace = np.zeros(4096, np.uint8)
    assert entry(2, argv, workspace.ctypes.data) == 0
    np.testing.assert_allclose(y, [21.0, 21.0])
