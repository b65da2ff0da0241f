"""Algebraic simplification: each rule, checked against the interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.interpreter import evaluate
from graphc.ir import Graph, Node, TensorType
from graphc.ops import builders as b
from graphc.passes.simplify import simplify

X = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)


def _simplified(build, shape=(None, 4)) -> tuple[Graph, Graph, dict]:
    g = Graph("s")
    g.outputs["y"] = build(g.input("x", TensorType(shape)))
    result, counters = simplify.transform(g)
    want = evaluate(g, {"x": X.reshape(TensorType(shape).concrete(3))})[0]["y"]
    got = evaluate(result, {"x": X.reshape(TensorType(shape).concrete(3))})[0]["y"]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    return g, result, counters


def _ops(graph: Graph) -> list[str]:
    return [n.op for n in graph.nodes if n.op not in ("input", "constant")]


@pytest.mark.parametrize("build", [
    lambda x: x * 1.0, lambda x: 1.0 * x, lambda x: x + 0.0, lambda x: 0.0 + x, lambda x: x - 0.0,
    lambda x: x / 1.0, lambda x: b.unary("neg", b.unary("neg", x)), lambda x: b.log(b.exp(x)),
    lambda x: b.transpose(b.transpose(x, (1, 0)), (1, 0)), lambda x: b.reshape(b.reshape(x, (None, 2, 2)),
                                                                                 (None, 4)),
], ids=["x*1", "1*x", "x+0", "0+x", "x-0", "x/1", "neg-neg", "log-exp", "transpose2", "reshape2"])
def test_identities_vanish(build) -> None:
    _, result, counters = _simplified(build)
    assert result.outputs["y"] is result.inputs["x"]
    assert counters["rewrites"] >= 1


def test_identities_that_would_change_the_shape_stay() -> None:
    _, result, _ = _simplified(lambda x: x * x.graph.constant(np.ones((2, 1, 4), np.float32)))
    assert _ops(result) == ["mul"]


def test_chains_collapse_into_one_node() -> None:
    _, result, _ = _simplified(lambda x: b.unary("neg", b.unary("neg", b.unary("neg", x))))
    assert _ops(result) == ["neg"]
    _, result, _ = _simplified(lambda x: b.transpose(b.transpose(b.transpose(x, (0, 2, 1)), (1, 0, 2)),
                                                     (2, 1, 0)), shape=(3, 2, 2))
    ((node,),) = [[n for n in result.nodes if n.op == "transpose"]]
    assert node.attrs["perm"] == (1, 0, 2)
    _, result, _ = _simplified(lambda x: b.reshape(b.reshape(b.reshape(x, (None, 2, 2)), (None, 1, 4)),
                                                   (None, 2, 2)))
    assert _ops(result) == ["reshape"]


def test_a_reshape_to_the_kept_dims_becomes_keepdims() -> None:
    _, result, _ = _simplified(lambda x: b.reshape(b.reduce_max(x, [1]), (None, 1)) * x)
    assert _ops(result) == ["reduce_max", "mul"]
    assert result.nodes[1].attrs["keepdims"] is True


def test_a_reduction_with_other_users_is_not_duplicated() -> None:
    def build(x: Node) -> Node:
        total = b.reduce_sum(x, [1])
        return b.reshape(total, (None, 1)) * b.reshape(b.exp(total), (None, 1))

    _, result, _ = _simplified(build)
    assert sum(n.op == "reduce_sum" for n in result.nodes) == 1


def test_broadcasts_an_elementwise_op_does_itself_are_dropped() -> None:
    g, result, counters = _simplified(lambda x: b.broadcast_to(b.reduce_sum(x, [1], keepdims=True),
                                                               (None, 4)) * x)
    assert counters["broadcast_operands"] == 1
    assert _ops(result) == ["reduce_sum", "mul"]
    _, result, _ = _simplified(lambda x: b.exp(b.broadcast_to(b.reduce_sum(x, [1], keepdims=True),
                                                              (None, 4))))
    assert "broadcast_to" in _ops(result), "a unary op needs the broadcast for its shape"


@pytest.mark.parametrize("shifted", [False, True])
def test_log_softmax_becomes_log_sum_exp_and_stays_finite(shifted: bool) -> None:
    def build(x: Node) -> Node:
        z = x * 60.0
        if shifted:
            z = z - b.reduce_max(z, [1], keepdims=True)
        e = b.exp(z)
        return b.log(e / b.reduce_sum(e, [1], keepdims=True))

    g = Graph("ce")
    labels = g.input("t", TensorType((None, 4)))
    g.outputs["y"] = -b.reduce_sum(labels * build(g.input("x", TensorType((None, 4)))), [1])
    result, counters = simplify.transform(g)
    assert counters["log_softmax"] == 1
    assert sum(n.op == "exp" for n in result.nodes) == 1 and sum(n.op == "log" for n in result.nodes) == 1
    feeds = {"x": X if shifted else X / 4.0, "t": np.eye(4, dtype=np.float32)[[0, 1, 3]]}
    logits = feeds["x"].astype(np.float64) * 60.0
    shift = logits - logits.max(1, keepdims=True)
    exact = -(feeds["t"] * (shift - np.log(np.exp(shift).sum(1, keepdims=True)))).sum(1)
    got = evaluate(result, feeds)[0]["y"]
    np.testing.assert_allclose(got, exact, rtol=1e-5, atol=1e-4)
    with np.errstate(all="ignore"):
        original = evaluate(g, feeds)[0]["y"]
    if shifted:
        assert not np.all(np.isfinite(original)), "the unstable form takes log(0) for these logits"


def test_per_channel_ops_move_before_a_row_view() -> None:
    """Dense on a sequence: matmul over T * N rows, a view to (N, T, C), then bias and relu. The bias
    and relu move before the view (the GEMM's epilogue can take them); an op with a full-shape operand
    keeps its place. Values unchanged."""
    g = Graph("dense3d")
    x = g.input("x", TensorType((None, 3, 4)))
    w = g.constant(np.arange(20, dtype=np.float32).reshape(4, 5) / 10)
    bias = g.constant(np.ones(5, np.float32))
    y = b.maximum(b.last_axis_matmul(x, w) + bias, g.constant(0.0))
    g.outputs["y"] = y
    g.outputs["other"] = b.last_axis_matmul(x, w) + g.input("full", TensorType((None, 3, 5)))
    out, counters = simplify.transform(g)
    assert counters["per_channel_before_view"] == 2
    chain = out.outputs["y"]
    assert chain.op == "reshape" and chain.inputs[0].op == "maximum"
    assert chain.inputs[0].inputs[0].op == "add" and chain.inputs[0].inputs[0].inputs[0].op == "matmul"
    assert out.outputs["other"].op == "add"
    rng = np.random.default_rng(0)
    feeds = {name: rng.normal(size=(2, 3, width)).astype(np.float32)
             for name, width in (("x", 4), ("full", 5))}
    for name in ("y", "other"):
        np.testing.assert_array_equal(evaluate(out, feeds)[0][name], evaluate(g, feeds)[0][name])
