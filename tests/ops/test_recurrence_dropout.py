"""Recurrent dropout in recurrence and recurrence_grad: operand rules, an rmask of ones changing
nothing, and one step against Keras 3's cell formulas (finite differences and compiled code are in
the op cases)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from graphc.interpreter import evaluate
from graphc.ir import ShapeError, TensorType
from graphc.ir.graph import Graph, Node
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients
from graphc.ops.recurrence import GATES, RECURRENCE, RECURRENCE_GRAD, SAVED, STATES

STEPS, UNITS, BATCH = 3, 4, 5


def _attrs(cell: str, **more: object) -> dict[str, object]:
    return {"cell": cell, "activation": "tanh", "recurrent_activation": "sigmoid", "reverse": False, **more}


def _operands(g: Graph, cell: str, steps: int = STEPS) -> list[Node]:
    width = GATES[cell] * UNITS
    return [g.input("z", TensorType((None, steps, width))), g.input("u", TensorType((UNITS, width))),
            g.input("rb", TensorType((width,)))]


def _input(g: Graph, name: str, shape: tuple[int | None, ...] = (None, UNITS),
           dtype: str = "float32") -> Node:
    return g.input(name, TensorType(shape, dtype))


def _grad_operands(g: Graph, cell: str) -> list[Node]:
    saved = TensorType((None, STEPS, SAVED[cell] * UNITS))
    return [g.input("u", TensorType((UNITS, GATES[cell] * UNITS))), g.input("s", saved), g.input("g", saved)]


@pytest.mark.parametrize("build_bad, message", [
    (lambda g: RECURRENCE(*_operands(g, "simple"), **_attrs("simple", recurrent_dropout=True)),
     "takes z, u, rb, an optional mask, rmask, got 3 operands"),
    (lambda g: RECURRENCE(*_operands(g, "lstm"), _input(g, "rmask"), _input(g, "h0"),
                          **_attrs("lstm", recurrent_dropout=True, initial_state=True)),
     "takes z, u, rb, an optional mask, rmask, h0, c0, got 5 operands"),
    (lambda g: RECURRENCE(*_operands(g, "gru"), _input(g, "rmask", (None, UNITS + 1)),
                          **_attrs("gru", recurrent_dropout=True)),
     r"recurrence: the recurrent dropout mask rmask must be float32 \(N, 4\), got f32\[N,5\]"),
    (lambda g: RECURRENCE(*_operands(g, "gru_v1"), _input(g, "rmask", (BATCH, UNITS)),
                          **_attrs("gru_v1", recurrent_dropout=True)), "rmask must be float32"),
    (lambda g: RECURRENCE(*_operands(g, "simple"), _input(g, "rmask", dtype="int32"),
                          **_attrs("simple", recurrent_dropout=True)), "rmask must be float32"),
    (lambda g: RECURRENCE(*_operands(g, "simple"), _input(g, "mask", (None, STEPS)),
                          **_attrs("simple", recurrent_dropout=True)), "rmask must be float32"),
    (lambda g: RECURRENCE(*_operands(g, "simple"), _input(g, "rmask"),
                          **_attrs("simple", recurrent_dropout=1)),
     "recurrent_dropout must be a bool"),
    (lambda g: RECURRENCE_GRAD(*_grad_operands(g, "lstm"), _input(g, "rmask", (None, 2 * UNITS)),
                               **_attrs("lstm", recurrent_dropout=True)),
     "recurrence_grad: the recurrent dropout mask rmask must be float32"),
    (lambda g: RECURRENCE_GRAD(*_grad_operands(g, "gru"), **_attrs("gru", recurrent_dropout=True)),
     "takes u, s, g, an optional mask, rmask, got 3 operands"),
])
def test_rmask_operands_are_checked(build_bad: Callable[[Graph], Node], message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        build_bad(Graph())


@pytest.mark.parametrize("cell", sorted(GATES))
def test_grad_shape_and_no_gradient_for_the_masks(cell: str) -> None:
    g = Graph()
    z, u, rb = _operands(g, cell)
    mask, rmask = _input(g, "mask", (None, STEPS)), _input(g, "rmask")
    states = [_input(g, name) for name in ("h0", "c0")[:STATES[cell]]]
    attrs = _attrs(cell, recurrent_dropout=True, initial_state=True)
    s = RECURRENCE(z, u, rb, mask, rmask, *states, **attrs)
    grad = RECURRENCE_GRAD(u, s, s, mask, rmask, *states, **attrs)
    assert grad.shape == (None, STEPS + 1, GATES[cell] * UNITS)
    rule = RECURRENCE.gradient(s, s)
    assert rule[3] is None and rule[4] is None
    assert all(grad is not None for grad in rule[:3] + rule[5:])


def _ones_graph(cell: str, masked: bool, initial: bool) -> Graph:
    """The same recurrence without recurrent dropout and with an rmask of ones, its gradient op and
    the gradient rule's results for every operand."""
    g = Graph()
    z, u, rb = _operands(g, cell)
    mask = [_input(g, "mask", (None, STEPS))] if masked else []
    states = [_input(g, name) for name in ("h0", "c0")[:STATES[cell] * initial]]
    ones = [_input(g, "rmask")]
    weights = _input(g, "w", (None, STEPS, SAVED[cell] * UNITS))
    for name, rmask, flags in (("plain", [], {}), ("ones", ones, {"recurrent_dropout": True})):
        attrs = _attrs(cell, initial_state=initial, **flags)
        s = RECURRENCE(z, u, rb, *mask, *rmask, *states, **attrs)
        g.outputs[f"s_{name}"] = s
        g.outputs[f"grad_op_{name}"] = RECURRENCE_GRAD(u, s, weights, *mask, *rmask, *states, **attrs)
        wrt = [z, u, rb, *states]
        for k, grad in enumerate(gradients(b.reduce_sum(s * weights), wrt)):
            g.outputs[f"d{k}_{name}"] = grad
    return g


@pytest.mark.parametrize("masked, initial", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("cell", sorted(GATES))
def test_rmask_of_ones_is_no_recurrent_dropout(cell: str, masked: bool, initial: bool) -> None:
    g = _ones_graph(cell, masked, initial)
    rng = np.random.default_rng(1)
    feeds = {name: rng.normal(size=node.type.concrete(BATCH)) for name, node in g.inputs.items()}
    feeds["rmask"] = np.ones((BATCH, UNITS))
    if masked:
        feeds["mask"] = (rng.uniform(size=(BATCH, STEPS)) > 0.3).astype(np.float64)
    out, _ = evaluate(g, feeds, dtype=np.float64)
    plain = [key for key in out if key.endswith("_plain")]
    assert len(plain) == 2 + 3 + STATES[cell] * initial
    for key in plain:
        np.testing.assert_array_equal(out[key], out[key.replace("_plain", "_ones")], err_msg=key)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _keras_step(cell: str, x: np.ndarray, u: np.ndarray, rb: np.ndarray, h_tm1: np.ndarray,
                c_tm1: np.ndarray, rmask: np.ndarray) -> np.ndarray:
    """One step of Keras 3's cells with recurrent dropout, written from their call(): the new h."""
    if cell == "simple":
        return np.tanh(x + rb + (h_tm1 * rmask) @ u)
    if cell == "lstm":
        i, f, c, o = np.split(x + (h_tm1 * rmask) @ u + rb, 4, axis=1)
        c = _sigmoid(f) * c_tm1 + _sigmoid(i) * np.tanh(c)
        return _sigmoid(o) * np.tanh(c)
    h_tm1 = h_tm1 * rmask  # before everything, the blend included
    x_z, x_r, x_h = np.split(x, 3, axis=1)
    u_z, u_r, u_h = np.split(u, 3, axis=1)
    b_z, b_r, b_h = np.split(rb, 3)
    z = _sigmoid(x_z + h_tm1 @ u_z + b_z)
    r = _sigmoid(x_r + h_tm1 @ u_r + b_r)
    if cell == "gru":  # reset_after: rb is the recurrent bias
        hh = np.tanh(x_h + r * (h_tm1 @ u_h + b_h))
    else:  # rb is the input bias
        hh = np.tanh(x_h + b_h + (r * h_tm1) @ u_h)
    return z * h_tm1 + (1.0 - z) * hh


@pytest.mark.parametrize("cell", sorted(GATES))
def test_one_step_from_a_state_follows_keras(cell: str) -> None:
    """The initial state is the first step's h_tm1 and is dropped like any other."""
    g = Graph()
    z, u, rb = _operands(g, cell, steps=1)
    rmask = _input(g, "rmask")
    states = [_input(g, name) for name in ("h0", "c0")[:STATES[cell]]]
    g.outputs["s"] = RECURRENCE(z, u, rb, rmask, *states, **_attrs(cell, recurrent_dropout=True,
                                                                    initial_state=True))
    rng = np.random.default_rng(2)
    feeds = {name: rng.normal(size=node.type.concrete(BATCH)) for name, node in g.inputs.items()}
    feeds["rmask"] = (rng.uniform(size=(BATCH, UNITS)) > 0.5) / 0.5
    feeds.setdefault("c0", np.zeros((BATCH, UNITS)))
    out, _ = evaluate(g, feeds, dtype=np.float64)
    want = _keras_step(cell, feeds["z"][:, 0], feeds["u"], feeds["rb"], feeds["h0"], feeds["c0"],
                       feeds["rmask"])
    np.testing.assert_allclose(out["s"][:, 0, :UNITS], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", sorted(GATES))
def test_masked_steps_carry_the_undropped_state(cell: str) -> None:
    """A step the time mask skips keeps h_tm1 itself, not h_tm1 * rmask."""
    g = Graph()
    z, u, rb = _operands(g, cell)
    mask, rmask, h0 = _input(g, "mask", (None, STEPS)), _input(g, "rmask"), _input(g, "h0")
    c0 = [_input(g, "c0")] if cell == "lstm" else []
    g.outputs["s"] = RECURRENCE(z, u, rb, mask, rmask, h0, *c0, **_attrs(cell, recurrent_dropout=True,
                                                                          initial_state=True))
    rng = np.random.default_rng(3)
    feeds = {name: rng.normal(size=node.type.concrete(BATCH)) for name, node in g.inputs.items()}
    feeds["mask"] = np.zeros((BATCH, STEPS))
    feeds["rmask"] = np.zeros((BATCH, UNITS))
    out, _ = evaluate(g, feeds, dtype=np.float64)
    for step in range(STEPS):
        np.testing.assert_array_equal(out["s"][:, step, :UNITS], feeds["h0"])
