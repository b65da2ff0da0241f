"""The initial state of recurrence and recurrence_grad: operand rules, and the old semantics kept
for graphs without one (finite differences and compiled code are in the op cases)."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.interpreter import evaluate
from graphc.ir import ShapeError, TensorType
from graphc.ir.graph import Graph, Node
from graphc.ops.recurrence import GATES, RECURRENCE, RECURRENCE_GRAD, SAVED, STATES

STEPS, UNITS = 3, 4


def _attrs(cell: str, **more: object) -> dict[str, object]:
    return {"cell": cell, "activation": "tanh", "recurrent_activation": "sigmoid", "reverse": False, **more}


def _operands(g: Graph, cell: str) -> list[Node]:
    width = GATES[cell] * UNITS
    return [g.input("z", TensorType((None, STEPS, width))), g.input("u", TensorType((UNITS, width))),
            g.input("rb", TensorType((width,)))]


def _state(g: Graph, name: str, shape: tuple[int | None, ...] = (None, UNITS),
           dtype: str = "float32") -> Node:
    return g.input(name, TensorType(shape, dtype))


@pytest.mark.parametrize("build_bad, message", [
    (lambda g: RECURRENCE(*_operands(g, "lstm"), _state(g, "h0"), **_attrs("lstm", initial_state=True)),
     "takes z, u, rb, an optional mask, h0, c0, got 4 operands"),
    (lambda g: RECURRENCE(*_operands(g, "gru"), **_attrs("gru", initial_state=True)),
     "takes z, u, rb, an optional mask, h0, got 3 operands"),
    (lambda g: RECURRENCE(*_operands(g, "simple"), _state(g, "m", (None, STEPS)), _state(g, "h0"),
                          _state(g, "c0"), **_attrs("simple", initial_state=True)), "got 6 operands"),
    (lambda g: RECURRENCE(*_operands(g, "simple"), _state(g, "h0", (None, UNITS + 1)),
                          **_attrs("simple", initial_state=True)),
     r"initial state h0 must be float32 \(N, 4\), got f32\[N,5\]"),
    (lambda g: RECURRENCE(*_operands(g, "lstm"), _state(g, "h0"), _state(g, "c0", (2, UNITS)),
                          **_attrs("lstm", initial_state=True)), "initial state c0 must be"),
    (lambda g: RECURRENCE(*_operands(g, "gru_v1"), _state(g, "h0", dtype="int64"),
                          **_attrs("gru_v1", initial_state=True)), "initial state h0 must be float32"),
    (lambda g: RECURRENCE(*_operands(g, "gru"), _state(g, "h0"), **_attrs("gru", initial_state=1)),
     "initial_state must be a bool"),
    (lambda g: RECURRENCE_GRAD(g.input("u", TensorType((UNITS, 4 * UNITS))),
                               g.input("s", TensorType((None, STEPS, 6 * UNITS))),
                               g.input("g", TensorType((None, STEPS, 6 * UNITS))), _state(g, "h0"),
                               **_attrs("lstm", initial_state=True)),
     "takes u, s, g, an optional mask, h0, c0, got 4 operands"),
    (lambda g: RECURRENCE_GRAD(g.input("u", TensorType((UNITS, UNITS))),
                               g.input("s", TensorType((None, STEPS, UNITS))),
                               g.input("g", TensorType((None, STEPS, UNITS))), _state(g, "h0", (None, 2)),
                               **_attrs("simple", initial_state=True)), "initial state h0 must be"),
])
def test_initial_state_operands_are_checked(build_bad, message) -> None:
    with pytest.raises(ShapeError, match=message):
        build_bad(Graph())


@pytest.mark.parametrize("cell", sorted(GATES))
def test_grad_output_has_the_state_row(cell: str) -> None:
    g = Graph()
    z, u, rb = _operands(g, cell)
    states = [_state(g, name) for name in ("h0", "c0")[:STATES[cell]]]
    s = RECURRENCE(z, u, rb, *states, **_attrs(cell, initial_state=True))
    assert s.shape == (None, STEPS, SAVED[cell] * UNITS)
    assert RECURRENCE_GRAD(u, s, s, *states, **_attrs(cell, initial_state=True)).shape == (
        None, STEPS + 1, GATES[cell] * UNITS)
    assert RECURRENCE_GRAD(u, s, s, **_attrs(cell, initial_state=False)).shape == (
        None, STEPS, GATES[cell] * UNITS)


@pytest.mark.parametrize("cell", sorted(GATES))
def test_zero_initial_state_is_no_initial_state(cell: str) -> None:
    """Without the attribute, with it False, or with a zero state: the same values, and the
    gradient rows of the steps alike."""
    g = Graph()
    z, u, rb = _operands(g, cell)
    mask = g.input("mask", TensorType((None, STEPS)))
    states = [_state(g, name) for name in ("h0", "c0")[:STATES[cell]]]
    s = {"missing": RECURRENCE(z, u, rb, mask, **_attrs(cell)),
         "false": RECURRENCE(z, u, rb, mask, **_attrs(cell, initial_state=False)),
         "zero": RECURRENCE(z, u, rb, mask, *states, **_attrs(cell, initial_state=True))}
    g.outputs.update(s)
    g.outputs["grad"] = RECURRENCE_GRAD(u, s["missing"], s["missing"], mask, **_attrs(cell))
    g.outputs["grad_zero"] = RECURRENCE_GRAD(u, s["zero"], s["zero"], mask, *states,
                                             **_attrs(cell, initial_state=True))
    rng = np.random.default_rng(0)
    feeds = {name: rng.normal(size=node.type.concrete(5)) for name, node in g.inputs.items()}
    feeds["mask"] = (rng.uniform(size=(5, STEPS)) > 0.3).astype(np.float64)
    feeds.update({name: np.zeros((5, UNITS)) for name in ("h0", "c0")})
    out, _ = evaluate(g, feeds, dtype=np.float64)
    np.testing.assert_array_equal(out["missing"], out["false"])
    np.testing.assert_array_equal(out["missing"], out["zero"])
    np.testing.assert_array_equal(out["grad"], out["grad_zero"][:, :STEPS])
    assert not out["grad_zero"][:, STEPS, STATES[cell] * UNITS:].any()
