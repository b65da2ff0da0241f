"""A matmul and its elementwise chain (node.meta["epilogue_group"]) run as one GEMM with an epilogue."""

from __future__ import annotations

import numpy as np
import pytest
from graphc_runtime import get_num_threads, set_num_threads

from graphc.codegen import compile_programs
from graphc.ir import Graph, Node, TensorType
from graphc.ops import builders as b
from graphc.passes.kernels import EPILOGUE_GROUP, partition
from tests.codegen.compiled import assert_matches, load


def _mark(*nodes: Node, key: object = "e") -> None:
    for node in nodes:
        node.meta[EPILOGUE_GROUP] = key


def _dense(name: str, activation: str, k: int, n: int, *, tb: bool = False, keep_pre: bool = False) -> Graph:
    g = Graph(name)
    x = g.input("x", TensorType((None, k)))
    w = g.input("w", TensorType((n, k) if tb else (k, n)))
    bias = g.input("bias", TensorType((n,)))
    z = b.matmul(x, w, transpose_b=tb)
    pre = z + bias
    out = b.maximum(pre, 0.0) if activation == "relu" else b.unary(activation, pre)
    _mark(z, pre, out)
    g.outputs["y"] = out
    if keep_pre:
        g.outputs["pre"] = pre
        g.outputs["z"] = z
    return g


def _dw(name: str) -> Graph:
    """The weight gradient X^T @ dY, scaled in its epilogue (the transposed-A case)."""
    g = Graph(name)
    x = g.input("x", TensorType((None, 33)))
    dy = g.input("dy", TensorType((None, 70)))
    grad = b.matmul(x, dy, transpose_a=True)
    scaled = grad * 0.5
    _mark(grad, scaled)
    g.outputs["g"] = scaled
    return g


GRAPHS = [_dense("relu", "relu", 37, 70), _dense("tanh_nt", "tanh", 37, 300, tb=True),
          _dense("sigmoid_skinny", "sigmoid", 129, 10), _dense("kept", "exp", 20, 65, keep_pre=True),
          _dw("dw")]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory):
    return load({g.name: g for g in GRAPHS}, tmp_path_factory.mktemp("epilogue"))


@pytest.fixture
def threads():
    before = get_num_threads()
    yield set_num_threads
    set_num_threads(before)


def test_the_group_is_one_kernel() -> None:
    for g in GRAPHS:
        kernels = partition(g)
        assert len(kernels) == 1 and kernels[0].epilogue_head is not None, g.name
    assert "_epilogue" in compile_programs({"relu": GRAPHS[0]}).llvm_ir["relu"]


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 7, 300])
@pytest.mark.parametrize("graph", GRAPHS, ids=lambda g: g.name)
def test_matches_the_interpreter(library, threads, graph: Graph, batch: int, n_threads: int) -> None:
    threads(n_threads)
    rng = np.random.default_rng(batch)
    feeds = {}
    for name, node in graph.inputs.items():
        shape = tuple(batch if d is None else d for d in node.shape)
        feeds[name] = rng.standard_normal(shape).astype(np.float32)
    assert_matches(graph, library, graph.name, feeds, batch=batch, rtol=1e-5, atol=2e-5)


def test_members_must_follow_a_matmul() -> None:
    g = Graph("bad")
    x = g.input("x", TensorType((None, 4)))
    y = b.tanh(x)
    _mark(y)
    g.outputs["y"] = y
    with pytest.raises(ValueError, match="must start with an epilogue op"):
        partition(g)
