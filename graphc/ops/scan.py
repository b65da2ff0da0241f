"""`scan`: a structured loop with a body region, and `tuple_get`, which takes one value of a
multi-output node.

    results = scan(*init_carries, *sequences, *constants){body, carries=k, sequences=s, length=T}

The body is a Graph whose inputs are, in order, the k carries, one element of each of the s
sequences and the constants, and whose outputs are the k new carries followed by the per-step
outputs ys. Sequences are time-major, (T, *element) (an element may hold the batch axis:
(T, N, F)), so a step reads one contiguous block. The node's value is a tuple (TupleType): the
final carries, then each y stacked over time as (T, *y). With `reverse` the steps run from
t = T-1 down to 0, each still reading x[t] and writing y[t] (as jax.lax.scan does).

With `history`, the body's last k outputs are its carry inputs, so the node also returns the
carry each step started from, (T, *carry): what the gradient needs. A scan without it gets the
history from a second scan that recomputes the forward pass.

The gradient is a reverse scan built by autodiff, not written per layer: its body is the forward
body (rebuilt in a new graph) followed by the reverse-mode sweep of
sum(new_carry * dcarry) + sum(y * dy), whose gradients for the carry inputs, elements and
constants are the step's vector-Jacobian products. It carries the carries' cotangents and the
constants' gradients summed over the steps, reads the saved carries, elements and output
cotangents per step, and returns the sequences' gradients as its ys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import copy_into
from graphc.ir.types import ShapeError, TensorType, TupleType
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients
from graphc.ops.evaluation import run_nodes
from graphc.ops.registry import EvalContext, Fusion, OpDef, OpKind, register


def _tuple_get_infer(types: Sequence[Any], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    if not isinstance(t, TupleType):
        raise ShapeError(f"tuple_get reads a multi-output node, got a {t}")
    index = attrs["index"]
    if not isinstance(index, int) or not 0 <= index < len(t):
        raise ShapeError(f"tuple_get index {index!r} is outside {t}")
    return t.parts[index]


TUPLE_GET = register(
    OpDef(
        "tuple_get",
        OpKind.CONTROL,
        1,
        _tuple_get_infer,
        lambda attrs, ctx, value: value[attrs["index"]],
        None,
        "one value of a multi-output node (its kernel stores it)",
        fusion=Fusion.PART,
    )
)


def _split(items: Sequence[Any], attrs: Mapping[str, Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """(carries, sequences, constants) of a scan's operands or body inputs."""
    k, s = attrs["carries"], attrs["sequences"]
    return list(items[:k]), list(items[k : k + s]), list(items[k + s :])


def _scan_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TupleType:
    body: Graph = attrs["body"]
    k, length = attrs["carries"], attrs["length"]
    inputs, outputs = list(body.inputs.values()), list(body.outputs.values())
    if not isinstance(length, int) or length < 0:
        raise ShapeError(f"scan length must be a whole number >= 0, got {length!r}")
    if len(types) != len(inputs):
        raise ShapeError(
            f"scan body {body.name!r} takes {len(inputs)} inputs, the scan has {len(types)} operands"
        )
    if len(outputs) < k:
        raise ShapeError(f"scan body {body.name!r} returns {len(outputs)} values, fewer than its {k} carries")
    carries, sequences, constants = _split(types, attrs)
    body_carries, elements, body_constants = _split([n.type for n in inputs], attrs)
    for i, (given, declared, new) in enumerate(zip(carries, body_carries, outputs, strict=False)):
        if not given == declared == new.type:
            raise ShapeError(
                f"scan carry {i}: initial value {given}, body input {declared}, body output {new.type}"
            )
    for i, (given, element) in enumerate(zip(sequences, elements, strict=True)):
        if given != TensorType((length, *element.shape), element.dtype):
            raise ShapeError(f"scan sequence {i}: expected {length} steps of {element}, got {given}")
    for i, (given, declared) in enumerate(zip(constants, body_constants, strict=True)):
        if given != declared:
            raise ShapeError(f"scan constant {i}: body input {declared}, operand {given}")
    if attrs.get("history") and [n for n in outputs[len(outputs) - k :]] != inputs[:k]:
        raise ShapeError("a scan with history returns its carry inputs as its last outputs")
    ys = [TensorType((length, *y.shape), y.type.dtype) for y in outputs[k:]]
    return TupleType(tuple(carries) + tuple(ys))


def _scan_reference(
    attrs: Mapping[str, Any], ctx: EvalContext, *arrays: np.ndarray
) -> tuple[np.ndarray, ...]:
    body: Graph = attrs["body"]
    k, length = attrs["carries"], attrs["length"]
    inputs, outputs = list(body.inputs.values()), list(body.outputs.values())
    carries, sequences, constants = _split(arrays, attrs)
    ys = [
        np.empty((length, *y.type.concrete(ctx.batch)), dtype=ctx.dtype if y.type.is_float else y.type.dtype)
        for y in outputs[k:]
    ]
    for t in range(length - 1, -1, -1) if attrs.get("reverse") else range(length):
        values: dict[Node, Any] = dict(
            zip(inputs, carries + [x[t] for x in sequences] + constants, strict=True)
        )
        run_nodes(body, values, ctx)
        carries = [values[node] for node in outputs[:k]]
        for y, node in zip(ys, outputs[k:], strict=True):
            y[t] = values[node]
    return tuple(carries) + tuple(ys)


def with_history(body: Graph, carries: int) -> Graph:
    """A copy of `body` that also returns its carry inputs as its last outputs (the `history` form)."""
    copy = Graph(f"{body.name}_history")
    mapping = copy_into(body, copy, {})
    for name, node in body.outputs.items():
        copy.outputs[name] = mapping[node]
    for i, node in enumerate(list(body.inputs.values())[:carries]):
        copy.outputs[f"history{i}"] = mapping[node]
    return copy


def scan(
    carries: Sequence[Node],
    sequences: Sequence[Node],
    constants: Sequence[Node],
    body: Graph,
    *,
    reverse: bool = False,
    history: bool = False,
    length: int | None = None,
) -> list[Node]:
    """The scan's values (final carries, then stacked ys, then with `history` the carry history)."""
    if length is None:
        if not sequences:
            raise ValueError("a scan without sequences needs its length")
        length = sequences[0].shape[0]
    operands = [*carries, *sequences, *constants]
    graph = operands[0].graph
    if history:
        body = with_history(body, len(carries))
    attrs = {
        "body": body,
        "carries": len(carries),
        "sequences": len(sequences),
        "length": length,
        "reverse": reverse,
        "history": history,
    }
    return graph.add_multi("scan", operands, attrs)


def _values(node: Node) -> list[Node]:
    """The tuple_get nodes of `node`, by index (Graph.add_multi made one per value)."""
    found: dict[int, Node] = {}
    for user in node.graph.nodes:
        if user.op == "tuple_get" and user.inputs[0] is node:
            found.setdefault(user.attrs["index"], user)
    return [found[i] for i in range(len(node.type))]


def _carry_history(node: Node) -> list[Node]:
    k = node.attrs["carries"]
    if node.attrs.get("history"):
        return _values(node)[len(node.type) - k :]
    carries, sequences, constants = _split(node.inputs, node.attrs)
    again = scan(
        carries,
        sequences,
        constants,
        node.attrs["body"],
        reverse=node.attrs.get("reverse", False),
        history=True,
        length=node.attrs["length"],
    )
    return again[len(again) - k :]


def _zeros(like: TensorType, graph: Graph) -> Node:
    return b.broadcast_to(graph.constant(0.0), like.shape)


def _backward_body(node: Node, cotangent_ys: Sequence[int]) -> tuple[Graph, list[int], list[int], list[int]]:
    """The reverse scan's body and which forward carries, sequences and constants have gradients."""
    body: Graph = node.attrs["body"]
    k = node.attrs["carries"]
    inputs, outputs = list(body.inputs.values()), list(body.outputs.values())
    carry_in, elements, constants = _split(inputs, node.attrs)
    float_carries = [i for i, c in enumerate(carry_in) if c.type.is_float]
    float_sequences = [j for j, x in enumerate(elements) if x.type.is_float]
    float_constants = [j for j, c in enumerate(constants) if c.type.is_float]
    grad = Graph(f"{body.name}_grad")
    dcarry = [grad.input(f"dcarry{i}", carry_in[i].type) for i in float_carries]
    dconst = [grad.input(f"dconst{j}", constants[j].type) for j in float_constants]
    saved = [grad.input(f"carry{i}", c.type) for i, c in enumerate(carry_in)]
    xs = [grad.input(f"x{j}", x.type) for j, x in enumerate(elements)]
    dys = [grad.input(f"dy{m}", outputs[k + m].type) for m in cotangent_ys]
    consts = [grad.input(f"const{j}", c.type) for j, c in enumerate(constants)]
    mapping = copy_into(body, grad, dict(zip(inputs, saved + xs + consts, strict=True)))
    terms = [b.reduce_sum(mapping[outputs[i]] * d) for i, d in zip(float_carries, dcarry, strict=True)]
    terms += [b.reduce_sum(mapping[outputs[k + m]] * d) for m, d in zip(cotangent_ys, dys, strict=True)]
    objective = terms[0] if terms else grad.constant(0.0)
    for term in terms[1:]:
        objective = objective + term
    wrt = (
        [saved[i] for i in float_carries]
        + [xs[j] for j in float_sequences]
        + [consts[j] for j in float_constants]
    )
    found = gradients(objective, wrt)
    n_c, n_x = len(float_carries), len(float_sequences)
    for i, g in zip(float_carries, found[:n_c], strict=True):
        grad.outputs[f"dcarry{i}"] = g
    for j, acc, g in zip(float_constants, dconst, found[n_c + n_x :], strict=True):
        grad.outputs[f"dconst{j}"] = acc + g
    for j, g in zip(float_sequences, found[n_c : n_c + n_x], strict=True):
        grad.outputs[f"dx{j}"] = g
    return grad, float_carries, float_sequences, float_constants


def _scan_gradient(node: Node, grads: Sequence[Node | None]) -> list[Node | None]:
    k = node.attrs["carries"]
    graph = node.graph
    carries, sequences, constants = _split(node.inputs, node.attrs)
    ys_grads = list(grads[k:])
    cotangent_ys = [m for m, g in enumerate(ys_grads) if g is not None and node.type.parts[k + m].is_float]
    body, float_carries, float_sequences, float_constants = _backward_body(node, cotangent_ys)
    init = [grads[i] if grads[i] is not None else _zeros(carries[i].type, graph) for i in float_carries]
    init += [_zeros(constants[j].type, graph) for j in float_constants]
    steps = _carry_history(node) + list(sequences) + [ys_grads[m] for m in cotangent_ys]
    results = scan(
        init,
        steps,
        constants,
        body,
        reverse=not node.attrs.get("reverse", False),
        length=node.attrs["length"],
    )
    n_c, n_k = len(float_carries), len(float_constants)
    out: list[Node | None] = [None] * len(node.inputs)
    for i, g in zip(float_carries, results[:n_c], strict=True):
        out[i] = g
    for j, g in zip(float_constants, results[n_c : n_c + n_k], strict=True):
        out[k + len(sequences) + j] = g
    for j, g in zip(float_sequences, results[n_c + n_k :], strict=True):
        out[k + j] = g
    return out


SCAN = register(
    OpDef(
        "scan",
        OpKind.CONTROL,
        None,
        _scan_infer,
        _scan_reference,
        _scan_gradient,
        "a loop over time running its body region once per step: carried values, per-step outputs",
    )
)
