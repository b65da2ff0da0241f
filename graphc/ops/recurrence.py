"""The recurrence of SimpleRNN, LSTM and GRU over time, and its backward pass (backpropagation
through time), as two kernel ops.

The layer computes the input projection of every time step at once (one 1x1 convolution, a big
GEMM) and passes it as `z` (N, T, G*H); `recurrence` runs the time loop: per step the recurrent
product h_prev @ u (+ rb), the gates and the new state. Its output `s` (N, T, K*H) holds, per
step in processing order, the new h first and then what the backward pass needs:

    cell     G  gate order (Keras)   K  s per step
    simple   1  -                    1  h
    lstm     4  i, f, c, o           6  h, c, i, f, g (the activated candidate), o
    gru      3  z, r, h              5  h, z, r, hh (the candidate), rh = h_prev @ u_h + rb_h (*)
    gru_v1   3  z, r, h              4  h, z, r, hh

(*) h_prev * rmask with recurrent dropout (below). `gru` is Keras's reset_after=True (the reset
gate scales the recurrent product, with its own bias rb); `gru_v1` is reset_after=False (the reset
gate scales h_prev before the product; rb is then the input bias). With `reverse` the steps read
z from the last time step backwards (go_backwards), and s stays in processing order, as Keras
returns it.

An optional fourth input `mask` (N, T), 1.0 or 0.0 per time step, skips steps as Keras skips
masked ones (Embedding(mask_zero=True)): at a masked step the state (h, and c) carries over
unchanged, so the saved h is the previous output, as Keras returns it (zero_output_for_mask=False).

With the attribute `recurrent_dropout=True` (Keras's recurrent_dropout while training) an operand
`rmask` (N, H) follows the mask: the layer's dropout mask (0 or 1/(1-rate), drawn once per call,
the same for every step), by which each step multiplies h_prev where Keras does: before the
recurrent product (every cell) and, for GRU, in the blend h = z * (h_prev * rmask) + (1 - z) * hh
too; an LSTM's c is not masked. A masked time step still carries the unmasked state over. s keeps
its layout: the backward pass multiplies the saved h_prev by rmask again.

The state starts at zero, or, with the attribute `initial_state=True` (Keras's
`initial_state=[h0, c0]`: a seq2seq decoder starting from its encoder's state), at the last
operands: h0 (N, H) and, for an LSTM only, c0 (N, H), after the mask and rmask if there are any.
So the operands are (z, u, rb, [mask], [rmask], [h0, [c0]]).

`recurrence_grad` gives the gradient for z (per step the pre-activation gradient of each gate);
the weight gradients are built from it by `recurrence`'s gradient rule with existing ops (a 1x1
filter-gradient convolution sums (h_prev * rmask)^T dz over batch and time), so compile time and
program size do not depend on T. It takes the forward pass's optional operands after its own,
(u, s, g, [mask], [rmask], [h0, [c0]]): the first step's gradients read h0 (and c0), and with an
initial state its output has one row more, T: the gradient of h0 in its first H values, of c0
(LSTM) in the next H, zeros after, so the state's gradient needs no second output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from graphc.ir.graph import Node
from graphc.ir.types import ShapeError, TensorType
from graphc.ops import builders as b
from graphc.ops.convolution import CONV2D_FILTER_GRAD
from graphc.ops.registry import EvalContext, Fusion, OpDef, OpKind, register

GATES = {"simple": 1, "lstm": 4, "gru": 3, "gru_v1": 3}
SAVED = {"simple": 1, "lstm": 6, "gru": 5, "gru_v1": 4}
STATES = {"simple": 1, "lstm": 2, "gru": 1, "gru_v1": 1}  # the initial state's operands: h0 (and c0)
Operand = TypeVar("Operand")  # a TensorType, Node or array: the rules split all three alike
HARD_SIGMOID_SLOPE, HARD_SIGMOID_OFFSET = 1.0 / 6.0, 0.5  # Keras 3's relu6(x + 3) / 6


def _hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(x * HARD_SIGMOID_SLOPE + HARD_SIGMOID_OFFSET, 0.0, 1.0)


# name -> (the function, its derivative from its value y): every activation a recurrent layer may
# use has a derivative that its output determines, so the backward pass needs no pre-activations.
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "tanh": (np.tanh, lambda y: 1.0 - y * y),
    "sigmoid": (lambda x: 0.5 * (np.tanh(0.5 * x) + 1.0), lambda y: y * (1.0 - y)),
    "relu": (lambda x: np.maximum(x, 0.0), lambda y: (y > 0).astype(y.dtype)),
    "linear": (lambda x: x, np.ones_like),
    "hard_sigmoid": (_hard_sigmoid, lambda y: ((y > 0) & (y < 1)).astype(y.dtype) * HARD_SIGMOID_SLOPE),
}


def initial_states(attrs: Mapping[str, Any]) -> int:
    """How many initial-state operands a node takes: none (a missing attribute, as graphs made
    before the attribute existed), h0, or h0 and c0 for an LSTM."""
    return STATES[attrs["cell"]] if attrs.get("initial_state", False) else 0


def dropout_masks(attrs: Mapping[str, Any]) -> int:
    """How many recurrent dropout masks a node takes: one with recurrent_dropout, else none (a
    missing attribute too, as graphs made before the attribute existed)."""
    return int(attrs.get("recurrent_dropout", False))


def split_extras(extras: Sequence[Operand], attrs: Mapping[str, Any]
                 ) -> tuple[list[Operand], list[Operand], list[Operand]]:
    """(the optional time mask, the recurrent dropout mask, the initial state) among the operands
    after the first three: all lists, empty for what the node does not take."""
    states = len(extras) - initial_states(attrs)
    masks = states - dropout_masks(attrs)
    return list(extras[:masks]), list(extras[masks:states]), list(extras[states:])


def _check_attrs(attrs: Mapping[str, Any], what: str) -> str:
    cell = attrs["cell"]
    if cell not in GATES:
        raise ShapeError(f"{what}: cell must be one of {sorted(GATES)}, got {cell!r}")
    for key in ("activation", "recurrent_activation"):
        if attrs[key] not in ACTIVATIONS:
            raise ShapeError(f"{what}: {key} must be one of {sorted(ACTIVATIONS)}, got {attrs[key]!r}")
    for key in ("initial_state", "recurrent_dropout"):
        if not isinstance(attrs.get(key, False), bool):
            raise ShapeError(f"{what}: {key} must be a bool, got {attrs[key]!r}")
    return cell


def _check_operands(types: Sequence[TensorType], attrs: Mapping[str, Any], first: str, what: str) -> None:
    """The operand count: three, an optional mask, and the rmask and initial state the attributes
    ask for."""
    named = ["rmask"][:dropout_masks(attrs)] + ["h0", "c0"][:initial_states(attrs)]
    if len(types) - len(named) not in (3, 4):
        wanted = f"{first}, an optional mask" + "".join(f", {name}" for name in named)
        raise ShapeError(f"{what}: takes {wanted}, got {len(types)} operands")


def _check_rmask(types: Sequence[TensorType], batch: Any, hidden: int, what: str) -> None:
    if types and (types[0].shape != (batch, hidden) or not types[0].is_float):
        raise ShapeError(f"{what}: the recurrent dropout mask rmask must be float32 (N, {hidden}), "
                         f"got {types[0]}")


def _check_initial(types: Sequence[TensorType], batch: Any, hidden: int, what: str) -> None:
    for name, state in zip(("h0", "c0"), types, strict=False):
        if state.shape != (batch, hidden) or not state.is_float:
            raise ShapeError(f"{what}: the initial state {name} must be float32 (N, {hidden}), got {state}")


def _sizes(z: TensorType, u: TensorType, cell: str, what: str) -> tuple[int, int]:
    if z.rank != 3 or None in z.shape[1:] or not z.is_float:
        raise ShapeError(f"{what}: z must be a float32 (N, T, G*H) sequence, got {z}")
    if u.rank != 2 or None in u.shape or u.shape[1] != GATES[cell] * u.shape[0]:
        raise ShapeError(f"{what}: the recurrent kernel of a {cell} cell must be (H, {GATES[cell]}*H), "
                         f"got {u}")
    hidden = u.shape[0]
    if z.shape[2] != GATES[cell] * hidden:
        raise ShapeError(f"{what}: z has {z.shape[2]} values per step, a {cell} cell of {hidden} units "
                         f"takes {GATES[cell] * hidden}")
    return z.shape[1], hidden  # type: ignore[return-value]


def _check_mask(types: Sequence[TensorType], batch: Any, steps: int, what: str) -> None:
    if types and (types[0].shape != (batch, steps) or not types[0].is_float):
        raise ShapeError(f"{what}: the mask must be float32 (N, {steps}), got {types[0]}")


def _infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    cell = _check_attrs(attrs, "recurrence")
    _check_operands(types, attrs, "z, u, rb", "recurrence")
    z, u, rb = types[:3]
    steps, hidden = _sizes(z, u, cell, "recurrence")
    if rb.shape != (GATES[cell] * hidden,):
        raise ShapeError(f"recurrence: rb must be ({GATES[cell] * hidden},), got {rb}")
    mask, rmask, initial = split_extras(types[3:], attrs)
    _check_mask(mask, z.shape[0], steps, "recurrence")
    _check_rmask(rmask, z.shape[0], hidden, "recurrence")
    _check_initial(initial, z.shape[0], hidden, "recurrence")
    return TensorType((z.shape[0], steps, SAVED[cell] * hidden))


def _order(attrs: Mapping[str, Any], steps: int) -> range:
    """The time step each processing step reads."""
    return range(steps - 1, -1, -1) if attrs["reverse"] else range(steps)


def _start(attrs: Mapping[str, Any], n: int, hidden: int, dtype: Any, extras: Sequence[np.ndarray]
           ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
    """(the mask or None, rmask, h0, c0) from the operands after the first three; ones for an rmask
    not given (h_prev * 1 is h_prev exactly), zeros for a state not given."""
    mask, rmask, initial = split_extras(extras, attrs)
    zeros = [np.zeros((n, hidden), dtype=dtype)] * 2
    h0, c0 = (initial + zeros)[:2]
    return (mask[0] if mask else None), (rmask or [np.ones((n, hidden), dtype=dtype)])[0], h0, c0


def _reference(attrs: Mapping[str, Any], ctx: EvalContext, z: np.ndarray, u: np.ndarray,
               rb: np.ndarray, *extras: np.ndarray) -> np.ndarray:
    cell = attrs["cell"]
    act, rec = ACTIVATIONS[attrs["activation"]][0], ACTIVATIONS[attrs["recurrent_activation"]][0]
    n, steps, _ = z.shape
    hidden = u.shape[0]
    out = np.zeros((n, steps, SAVED[cell] * hidden), dtype=z.dtype)
    mask, rmask, h, c = _start(attrs, n, hidden, z.dtype, extras)
    for s, t in enumerate(_order(attrs, steps)):
        keep = np.ones((n, 1), dtype=z.dtype) if mask is None else mask[:, t:t + 1]
        dropped = h * rmask  # what the step sees of h_prev; a masked step keeps h itself
        if cell == "simple":
            h = keep * act(z[:, t] + dropped @ u + rb) + (1.0 - keep) * h
            saved = [h]
        elif cell == "lstm":
            a = z[:, t] + dropped @ u + rb
            i, f, g, o = (np.split(a, 4, axis=1))
            i, f, g, o = rec(i), rec(f), act(g), rec(o)
            new_c = f * c + i * g
            h = keep * (o * act(new_c)) + (1.0 - keep) * h
            c = keep * new_c + (1.0 - keep) * c
            saved = [h, c, i, f, g, o]
        else:
            zx, rx, hx = np.split(z[:, t], 3, axis=1)
            uz, ur, uh = np.split(u, 3, axis=1)
            bz, br, bh = np.split(rb, 3)
            gate_z, gate_r = rec(zx + dropped @ uz + bz), rec(rx + dropped @ ur + br)
            if cell == "gru":
                rh = dropped @ uh + bh
                hh = act(hx + gate_r * rh)
                extra = [rh]
            else:
                hh = act(hx + bh + (gate_r * dropped) @ uh)
                extra = []
            h = keep * (gate_z * dropped + (1.0 - gate_z) * hh) + (1.0 - keep) * h
            saved = [h, gate_z, gate_r, hh, *extra]
        out[:, s] = np.concatenate(saved, axis=1)
    return out


def _pieces(node_s: Node, cell: str, hidden: int) -> dict[str, Node]:
    """Named (N, T, H) slices of a recurrence output."""
    names = {"simple": ["h"], "lstm": ["h", "c", "i", "f", "g", "o"], "gru": ["h", "z", "r", "hh", "rh"],
             "gru_v1": ["h", "z", "r", "hh"]}[cell]
    steps = node_s.shape[1]
    return {name: b.slice_(node_s, (0, 0, k * hidden), (None, steps, hidden)) for k, name in enumerate(names)}


def _previous(h: Node, h0: Node | None) -> Node:
    """h_prev per processing step: the initial state (zero without one), then h of the step before."""
    steps, hidden = h.shape[1], h.shape[2]
    if h0 is None:
        if steps == 1:
            return h * 0.0
        return b.pad(b.slice_(h, (0, 0, 0), (None, steps - 1, hidden)), ((0, 0), (1, 0), (0, 0)))
    first = b.reshape(h0, (None, 1, hidden))
    if steps == 1:
        return first
    return b.concatenate([first, b.slice_(h, (0, 0, 0), (None, steps - 1, hidden))], 1)


def _sum_outer(left: Node, right: Node) -> Node:
    """sum over batch and time of left[n, t]^T right[n, t]: a 1x1 convolution's filter gradient."""
    steps = left.shape[1]

    def as_image(x: Node) -> Node:
        return b.reshape(x, (None, steps, 1, x.shape[2]))

    grad = CONV2D_FILTER_GRAD(as_image(left), as_image(right), kernel_size=(1, 1), strides=(1, 1),
                              dilation=(1, 1), padding=((0, 0), (0, 0)))
    return b.reshape(grad, (left.shape[2], right.shape[2]))


def _state_gradients(dz: Node, count: int, steps: int, hidden: int) -> list[Node]:
    """The gradients of h0 (and c0): row T of recurrence_grad's output, H values each."""
    return [b.reshape(b.slice_(dz, (0, steps, k * hidden), (None, 1, hidden)), (None, hidden))
            for k in range(count)]


def _gradient(node: Node, g: Node) -> list[Node | None]:
    """dz comes in processing order, aligned with s for the weight gradients, and is put back in
    time order for z (a gather along time when the steps ran backwards). The masks have none; the
    initial state's gradients are the row after the last step, and h0 is the first step's h_prev.
    The products saw h_prev * rmask, so the recurrent kernel's gradient does too."""
    z, u = node.inputs[:2]
    mask, rmask, initial = split_extras(node.inputs[3:], node.attrs)
    cell = node.attrs["cell"]
    hidden = u.shape[0]
    steps = z.shape[1]
    dz = RECURRENCE_GRAD(u, node, g, *node.inputs[3:], **node.attrs)
    extras: list[Node | None] = [None] * (len(mask) + len(rmask))
    extras += _state_gradients(dz, len(initial), steps, hidden)
    if initial:
        dz = b.slice_(dz, (0, 0, 0), (None, steps, GATES[cell] * hidden))
    dz_in_time = dz
    if node.attrs["reverse"] and steps > 1:
        dz_in_time = b.gather(dz, node.graph.constant(np.arange(steps - 1, -1, -1, dtype=np.int32)), 1)
    pieces = _pieces(node, cell, hidden)
    h_prev = _previous(pieces["h"], initial[0] if initial else None)
    if rmask:
        h_prev = h_prev * b.reshape(rmask[0], (None, 1, hidden))
    if cell in ("simple", "lstm"):
        return [dz_in_time, _sum_outer(h_prev, dz), b.reduce_sum(dz, (0, 1)), *extras]
    dzr = b.slice_(dz, (0, 0, 0), (None, steps, 2 * hidden))
    dh = b.slice_(dz, (0, 0, 2 * hidden), (None, steps, hidden))
    if cell == "gru":  # the reset gate scales the recurrent product; a gradient may reach rh directly
        g_rh = b.slice_(g, (0, 0, 4 * hidden), (None, steps, hidden))
        recurrent = b.concatenate([dzr, dh * pieces["r"] + g_rh], 2)
        return [dz_in_time, _sum_outer(h_prev, recurrent), b.reduce_sum(recurrent, (0, 1)), *extras]
    du = b.concatenate([_sum_outer(h_prev, dzr), _sum_outer(pieces["r"] * h_prev, dh)], 1)
    return [dz_in_time, du, b.reduce_sum(dz, (0, 1)), *extras]


RECURRENCE = register(OpDef(
    "recurrence", OpKind.CONTRACTION, None, _infer, _reference, _gradient,
    "the time loop of a SimpleRNN/LSTM/GRU cell over the input projection z (N, T, G*H) with the "
    "recurrent kernel u (H, G*H) and bias rb; per step the new h and what backpropagation needs",
    fusion=Fusion.KERNEL))


def _grad_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    cell = _check_attrs(attrs, "recurrence_grad")
    _check_operands(types, attrs, "u, s, g", "recurrence_grad")
    u, s, g = types[:3]
    if u.rank != 2 or None in u.shape or u.shape[1] != GATES[cell] * u.shape[0]:
        raise ShapeError(f"recurrence_grad: the recurrent kernel must be (H, {GATES[cell]}*H), got {u}")
    hidden = u.shape[0]
    if s.rank != 3 or s.shape[2] != SAVED[cell] * hidden or g.shape != s.shape:
        raise ShapeError(f"recurrence_grad: s and its gradient must both be (N, T, {SAVED[cell] * hidden}), "
                         f"got {s} and {g}")
    mask, rmask, initial = split_extras(types[3:], attrs)
    _check_mask(mask, s.shape[0], s.shape[1], "recurrence_grad")
    _check_rmask(rmask, s.shape[0], hidden, "recurrence_grad")
    _check_initial(initial, s.shape[0], hidden, "recurrence_grad")
    return TensorType((s.shape[0], s.shape[1] + bool(initial), GATES[cell] * hidden))


def _grad_reference(attrs: Mapping[str, Any], ctx: EvalContext, u: np.ndarray, s: np.ndarray,
                    g: np.ndarray, *extras: np.ndarray) -> np.ndarray:
    """Backpropagation through time, last processing step first; g may reach any saved value. A
    masked step passes the gradients of h (and c) on to the step before unchanged. What reaches
    h_prev * rmask reaches h_prev times rmask. With an initial state, what reaches the state before
    the first step is row T."""
    cell = attrs["cell"]
    d_act, d_rec = ACTIVATIONS[attrs["activation"]][1], ACTIVATIONS[attrs["recurrent_activation"]][1]
    act = ACTIVATIONS[attrs["activation"]][0]
    n, steps, _ = s.shape
    hidden = u.shape[0]
    parts = np.split(s, SAVED[cell], axis=2)
    grads = np.split(g, SAVED[cell], axis=2)
    mask, rmask, h0, c0 = _start(attrs, n, hidden, s.dtype, extras)
    states = initial_states(attrs)
    dz = np.zeros((n, steps + bool(states), GATES[cell] * hidden), dtype=s.dtype)
    dh_next = np.zeros((n, hidden), dtype=s.dtype)
    dc_next = np.zeros((n, hidden), dtype=s.dtype)
    times = list(_order(attrs, steps))
    for step in range(steps - 1, -1, -1):
        keep = np.ones((n, 1), dtype=s.dtype) if mask is None else mask[:, times[step]:times[step] + 1]
        dropped = (parts[0][:, step - 1] if step else h0) * rmask
        dh_out = grads[0][:, step] + dh_next
        dh, passed = keep * dh_out, (1.0 - keep) * dh_out
        if cell == "simple":
            da = dh * d_act(parts[0][:, step])
            dz[:, step] = da
            dh_next = passed + (da @ u.T) * rmask
        elif cell == "lstm":
            c, i, f, gg, o = (p[:, step] for p in parts[1:])
            c_prev = parts[1][:, step - 1] if step else c0
            act_c = act(c)
            dc_out = grads[1][:, step] + dc_next
            dc = keep * dc_out + dh * o * d_act(act_c)
            di, df, dg, do = dc * gg, dc * c_prev, dc * i, dh * act_c
            di, df, do = di + grads[2][:, step], df + grads[3][:, step], do + grads[5][:, step]
            dg = dg + grads[4][:, step]
            da = np.concatenate([di * d_rec(i), df * d_rec(f), dg * d_act(gg), do * d_rec(o)], axis=1)
            dz[:, step] = da
            dh_next = passed + (da @ u.T) * rmask
            dc_next = (1.0 - keep) * dc_out + dc * f
        else:
            gate_z, gate_r, hh = (p[:, step] for p in parts[1:4])
            dgz = dh * (dropped - hh) + grads[1][:, step]
            dhh = dh * (1.0 - gate_z) + grads[3][:, step]
            dpre_h = dhh * d_act(hh)
            uz, ur, uh = np.split(u, 3, axis=1)
            d_dropped = dh * gate_z  # the gradient of h_prev * rmask
            if cell == "gru":
                rh = parts[4][:, step]
                dgr = dpre_h * rh + grads[2][:, step]
                drh = dpre_h * gate_r + grads[4][:, step]
                d_dropped = d_dropped + drh @ uh.T
            else:
                d_reset = dpre_h @ uh.T  # the gradient of r * h_prev * rmask
                dgr = d_reset * dropped + grads[2][:, step]
                d_dropped = d_dropped + d_reset * gate_r
            dpre_z, dpre_r = dgz * d_rec(gate_z), dgr * d_rec(gate_r)
            dz[:, step] = np.concatenate([dpre_z, dpre_r, dpre_h], axis=1)
            dh_next = passed + (d_dropped + dpre_z @ uz.T + dpre_r @ ur.T) * rmask
    if states:
        dz[:, steps, :states * hidden] = np.concatenate([dh_next, dc_next][:states], axis=1)
    return dz


RECURRENCE_GRAD = register(OpDef(
    "recurrence_grad", OpKind.CONTRACTION, None, _grad_infer, _grad_reference, None,
    "the gradient of recurrence for its input projection z: the per-step gate pre-activation "
    "gradients in processing order, computed from the last step to the first (backpropagation "
    "through time); with an initial state, a last row holding the gradients of h0 (and c0)",
    fusion=Fusion.KERNEL))
