"""Autodiff of a whole training step and dead-code elimination after it."""

from __future__ import annotations

import numpy as np

from graphc.interpreter import evaluate
from graphc.ir import Graph, TensorType, verify
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients
from graphc.passes.dce import eliminate_dead_code


def _training_graph() -> tuple[Graph, list]:
    graph = Graph("train")
    x = graph.input("x", TensorType((None, 3)))
    t = graph.input("t", TensorType((None, 2)))
    w = graph.state("w", TensorType((3, 2)), trainable=True)
    bias = graph.state("b", TensorType((2,)), trainable=True)
    unused = graph.state("unused", TensorType((2,)), trainable=True)
    logits = b.matmul(x, w) + bias
    shifted = logits - b.reduce_max(logits, [1], keepdims=True)
    log_probs = shifted - b.log(b.reduce_sum(b.exp(shifted), [1], keepdims=True))
    loss = b.reduce_mean(-b.reduce_sum(t * log_probs, [1]))
    graph.outputs["loss"] = loss
    params = [w, bias, unused]
    for p, g in zip(params, gradients(loss, params), strict=True):
        graph.outputs[f"d{p.attrs['name']}"] = g
    return graph, params


def test_softmax_cross_entropy_gradient_matches_finite_differences() -> None:
    graph, _ = _training_graph()
    rng = np.random.default_rng(1)
    feeds = {"x": rng.normal(size=(4, 3)), "t": np.eye(2)[[0, 1, 1, 0]]}
    state = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2), "unused": np.zeros(2)}
    out, _ = evaluate(graph, feeds, state, dtype=np.float64)
    for name in ("w", "b"):
        numeric = np.zeros_like(state[name])
        for index in np.ndindex(numeric.shape):
            for sign in (1, -1):
                moved = {k: v.copy() for k, v in state.items()}
                moved[name][index] += sign * 1e-6
                numeric[index] += sign * evaluate(graph, feeds, moved, dtype=np.float64)[0]["loss"] / 2e-6
        np.testing.assert_allclose(out[f"d{name}"], numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(out["dunused"], np.zeros(2))
    # analytic check: d loss / d logits = (softmax - t) / N
    logits = feeds["x"] @ state["w"] + state["b"]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(out["db"], ((probs - feeds["t"]) / 4).sum(0), rtol=1e-10)


def test_dce_removes_unused_gradients_and_keeps_results() -> None:
    graph, _ = _training_graph()
    pruned = eliminate_dead_code(graph)
    verify(pruned)
    assert len(pruned) < len(graph)
    assert list(pruned.states) == list(graph.states)
    def matmuls(g: Graph) -> int:
        return sum(n.op == "matmul" for n in g.nodes)

    assert (matmuls(graph), matmuls(pruned)) == (3, 2), "the gradient w.r.t. x is dead and must be gone"
    rng = np.random.default_rng(2)
    feeds = {"x": rng.normal(size=(3, 3)), "t": np.eye(2)[[0, 1, 1]]}
    state = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2), "unused": np.zeros(2)}
    before, _ = evaluate(graph, feeds, state)
    after, _ = evaluate(pruned, feeds, state)
    for name in before:
        np.testing.assert_allclose(before[name], after[name], rtol=1e-6)
