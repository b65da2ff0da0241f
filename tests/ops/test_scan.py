"""The scan op: its reference semantics against plain numpy loops, its autodiff-built gradient
against finite differences, and the IR's handling of its region and multi-output value."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.interpreter import evaluate
from graphc.ir import ShapeError, TensorType
from graphc.ir.graph import Graph
from graphc.ir.printer import format_graph
from graphc.ir.verify import GraphError, verify
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients
from graphc.ops.scan import scan

T, H, F = 4, 3, 2
f32 = TensorType


def rnn_body(with_mask: bool = False, counter: bool = False) -> Graph:
    """h' = tanh(x w + h u + bias) (masked steps keep h); ys: h' and h' * h'; optionally an int counter."""
    body = Graph("cell")
    h = body.input("h", f32((None, H)))
    count = body.input("count", f32((), "int32")) if counter else None
    x = body.input("x", f32((None, F)))
    m = body.input("m", f32((None, 1))) if with_mask else None
    w, u, bias = (
        body.input("w", f32((F, H))),
        body.input("u", f32((H, H))),
        body.input("bias", f32((None, H))),
    )
    new = b.tanh(b.matmul(x, w) + b.matmul(h, u) + bias)
    if m is not None:
        new = new * m + h * (1.0 - m)
    body.outputs["h"] = new
    if count is not None:
        body.outputs["count"] = count + 1
    body.outputs["y"] = new
    body.outputs["y2"] = new * new
    return body


def numpy_rnn(xs, h0, w, u, bias, mask=None, reverse=False):
    h, ys = h0, np.zeros((len(xs), *h0.shape))
    for t in range(len(xs) - 1, -1, -1) if reverse else range(len(xs)):
        new = np.tanh(xs[t] @ w + h @ u + bias)
        if mask is not None:
            new = new * mask[t] + h * (1 - mask[t])
        h = ys[t] = new
    return h, ys


def build(reverse=False, history=False, with_mask=False, counter=False):
    g = Graph("m")
    xs, h0 = g.input("xs", f32((T, None, F))), g.input("h0", f32((None, H)))
    w, u = g.state("w", f32((F, H)), True), g.state("u", f32((H, H)), True)
    bias = g.input("bias", f32((None, H)))
    carries = [h0] + ([g.constant(np.int32(0))] if counter else [])
    sequences = [xs] + ([g.input("mask", f32((T, None, 1)))] if with_mask else [])
    values = scan(
        carries, sequences, [w, u, bias], rnn_body(with_mask, counter), reverse=reverse, history=history
    )
    hT, ys, ys2 = values[0], values[len(carries)], values[len(carries) + 1]
    if counter:
        g.outputs["count"] = values[1]
    loss = b.reduce_sum(ys * g.constant(np.linspace(-1, 1, T * H).reshape(T, 1, H))) + b.reduce_sum(ys2)
    loss = loss + b.reduce_sum(hT * hT)
    g.outputs.update(hT=hT, ys=ys, loss=loss)
    for name, grad in zip(
        ("gxs", "gh0", "gw", "gu", "gbias"), gradients(loss, [xs, h0, w, u, bias]), strict=True
    ):
        g.outputs[name] = grad
    return g


def feeds(rng, batch=2, with_mask=False):
    data = {
        "xs": rng.normal(size=(T, batch, F)),
        "h0": rng.normal(size=(batch, H)) * 0.5,
        "bias": rng.normal(size=(batch, H)) * 0.1,
    }
    if with_mask:
        data["mask"] = (rng.random((T, batch, 1)) > 0.4).astype(float)
    return data, {"w": rng.normal(size=(F, H)) * 0.5, "u": rng.normal(size=(H, H)) * 0.5}


@pytest.mark.parametrize("reverse", [False, True])
def test_reference_runs_the_body_once_per_step(reverse) -> None:
    rng = np.random.default_rng(0)
    data, state = feeds(rng, with_mask=True)
    out, _ = evaluate(build(reverse=reverse, with_mask=True, counter=True), data, state, dtype=np.float64)
    hT, ys = numpy_rnn(data["xs"], data["h0"], state["w"], state["u"], data["bias"], data["mask"], reverse)
    np.testing.assert_allclose(out["hT"], hT, rtol=1e-12)
    np.testing.assert_allclose(out["ys"], ys, rtol=1e-12)
    assert out["count"] == T and out["count"].dtype == np.int32


@pytest.mark.parametrize(
    "reverse,history,with_mask,counter",
    [(False, False, False, False), (True, False, True, False), (False, True, True, True)],
)
def test_gradient_is_a_reverse_scan_matching_finite_differences(reverse, history, with_mask, counter) -> None:
    rng = np.random.default_rng(1)
    data, state = feeds(rng, batch=3, with_mask=with_mask)
    graph = build(reverse, history, with_mask, counter)
    verify(graph)
    assert sum(n.op == "scan" for n in graph.nodes) == (
        2 if history else 3
    )  # forward (+ recompute) + reverse
    out, _ = evaluate(graph, data, state, dtype=np.float64)

    def loss(feed, st):
        return evaluate(graph, feed, st, dtype=np.float64)[0]["loss"]

    eps = 1e-6
    for name, grad_name, source in [
        ("xs", "gxs", data),
        ("h0", "gh0", data),
        ("bias", "gbias", data),
        ("w", "gw", state),
        ("u", "gu", state),
    ]:
        numeric = np.zeros_like(source[name])
        for index in np.ndindex(source[name].shape):
            for sign in (1, -1):
                bumped = {k: v.copy() for k, v in source.items()}
                bumped[name][index] += sign * eps
                args = (bumped, state) if source is data else (data, bumped)
                numeric[index] += sign * loss(*args) / (2 * eps)
        np.testing.assert_allclose(out[grad_name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_region_and_tuple_values_are_checked_and_printed() -> None:
    graph = build()
    text = format_graph(graph)
    assert "graph cell (" in text and "graph cell_history_grad (" in text and "tuple_get" in text
    scan_node = next(n for n in graph.nodes if n.op == "scan")
    scan_node.attrs["body"].outputs["h"].type = f32((None, H + 1))
    with pytest.raises(GraphError, match="in the region of"):
        verify(graph)


def test_scan_rules_name_the_mismatch() -> None:
    g = Graph("m")
    xs, h0 = g.input("xs", f32((T, None, F))), g.input("h0", f32((None, H + 1)))
    w, u, bias = g.input("w", f32((F, H))), g.input("u", f32((H, H))), g.input("bias", f32((None, H)))
    with pytest.raises(ShapeError, match="scan carry 0"):
        scan([h0], [xs], [w, u, bias], rnn_body())
    h0 = g.input("h0ok", f32((None, H)))
    with pytest.raises(ShapeError, match="scan sequence 0: expected 5 steps"):
        scan([h0], [xs], [w, u, bias], rnn_body(), length=5)
    with pytest.raises(ShapeError, match="takes 5 inputs"):
        scan([h0], [xs], [w, u], rnn_body())
    values = scan([h0], [xs], [w, u, bias], rnn_body())
    with pytest.raises(ShapeError, match="take one with tuple_get"):
        _ = values[0].inputs[0].shape
