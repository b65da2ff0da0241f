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
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import copy_into, live_nodes
from graphc.ir.types import BatchMultiple, ShapeError, TensorType, TupleType
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients
from graphc.ops.evaluation import run_nodes
from graphc.ops.registry import EvalContext, Fusion, OpDef, OpKind, register
from graphc.ops.rows import batch_leading, rows_independent


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
    residuals = attrs.get("residuals", 0)
    if (
        attrs.get("history")
        and outputs[len(outputs) - k - residuals : len(outputs) - residuals] != inputs[:k]
    ):
        raise ShapeError(
            "a scan with history returns its carry inputs before its residuals, as its last outputs"
        )
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


def with_history(body: Graph, carries: int, residuals: Sequence[Node] = ()) -> Graph:
    """A copy of `body` that also returns its carry inputs and then the `residuals` (nodes of `body`)
    as its last outputs: what its gradient reads per step (the `history` form)."""
    copy = Graph(f"{body.name}_history")
    mapping = copy_into(body, copy, {})
    for name, node in body.outputs.items():
        copy.outputs[name] = mapping[node]
    for i, node in enumerate(list(body.inputs.values())[:carries]):
        copy.outputs[f"history{i}"] = mapping[node]
    for r, node in enumerate(residuals):
        copy.outputs[f"residual{r}"] = mapping[node]
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
    """The scan's values: final carries, stacked ys, then with `history` the carry history and the
    residuals (the body's intermediate values its gradient reads, so the reverse scan does not
    compute the forward step again)."""
    if length is None:
        if not sequences:
            raise ValueError("a scan without sequences needs its length")
        length = sequences[0].shape[0]
    sequences, constants, body = _hoisted(list(carries), list(sequences), list(constants), body)
    operands = [*carries, *sequences, *constants]
    graph = operands[0].graph
    attrs: dict[str, Any] = {
        "carries": len(carries),
        "sequences": len(sequences),
        "length": length,
        "reverse": reverse,
        "history": history,
        "residuals": 0,
    }
    if history:
        residuals = _residuals(body, attrs)
        body = with_history(body, len(carries), residuals)
        attrs["residuals"] = len(residuals)
    return graph.add_multi("scan", operands, {"body": body, **attrs})


def _hoisted(
    carries: list[Node], sequences: list[Node], constants: list[Node], body: Graph
) -> tuple[list[Node], list[Node], Graph]:
    """Loop-invariant code motion: a product of a step's element with a constant (the input
    projection x_t @ w) is computed for every step before the loop, by one GEMM over T*N rows, and
    read per step as a new sequence; a constant weight a step multiplies by transposed (the
    gradient's dz @ u^T) is transposed once before the loop, so the step's GEMM reads it in place
    instead of packing its transpose every step; inputs the body no longer reads are dropped."""
    k, s = len(carries), len(sequences)
    inputs = list(body.inputs.values())
    if k + s + len(constants) != len(inputs):
        return sequences, constants, body  # the shape rule names the mismatch
    elements, weights = inputs[k : k + s], inputs[k + s :]
    products = [n for n in body.nodes
                if n.op == "matmul" and not n.attrs["transpose_a"] and n.inputs[1] in weights]
    projections = [
        n
        for n in products
        if not n.attrs["transpose_b"]
        and n.inputs[0] in elements
        and n.inputs[0].type.rank == 2
        and n.inputs[0].shape[0] is None
    ]
    flipped = list(dict.fromkeys(n.inputs[1] for n in products if n.attrs["transpose_b"]))
    if not projections and not flipped:
        return sequences, constants, body
    new = Graph(body.name)
    bound: dict[Node, Node] = {}
    for node in inputs[: k + s]:
        bound[node] = new.input(node.attrs["name"], node.type)
    for number, node in enumerate(projections):
        bound[node] = new.input(f"projected{number}", node.type)
        x = sequences[elements.index(node.inputs[0])]
        w = constants[weights.index(node.inputs[1])]
        sequences = [*sequences, b.last_axis_matmul(x, w)]
    for node in weights:
        bound[node] = new.input(node.attrs["name"], node.type)
    transposed: dict[Node, Node] = {}
    for number, w in enumerate(flipped):
        outer = b.transpose(constants[weights.index(w)], (1, 0))
        transposed[w] = new.input(f"transposed{number}", outer.type)
        constants = [*constants, outer]

    def read_in_place(node: Node, operands: list[Node], graph: Graph) -> Node | None:
        if node in products and node.attrs["transpose_b"]:
            return b.matmul(operands[0], transposed[node.inputs[1]])
        return None

    mapping = copy_into(body, new, bound, rewrite=read_in_place)
    for name, node in body.outputs.items():
        new.outputs[name] = mapping[node]
    return _without_unused(carries, sequences, constants, new)


def _without_unused(
    carries: list[Node], sequences: list[Node], constants: list[Node], body: Graph
) -> tuple[list[Node], list[Node], Graph]:
    """The body without the element and constant inputs nothing reads, and the operands that fed them."""
    read = {src for node in body.nodes for src in node.inputs} | set(body.outputs.values())
    inputs = list(body.inputs.values())
    k, s = len(carries), len(sequences)
    keep = [i for i, node in enumerate(inputs) if i < k or node in read]
    if len(keep) == len(inputs):
        return sequences, constants, body
    operands = [*carries, *sequences, *constants]
    pruned = Graph(body.name)
    bound = {inputs[i]: pruned.input(inputs[i].attrs["name"], inputs[i].type) for i in keep}
    mapping = copy_into(body, pruned, bound, skip=[n for i, n in enumerate(inputs) if i not in keep])
    for name, node in body.outputs.items():
        pruned.outputs[name] = mapping[node]
    kept = [operands[i] for i in keep]
    count = sum(1 for i in keep if k <= i < k + s)
    return kept[k : k + count], kept[k + count :], pruned


def _values(node: Node) -> list[Node]:
    """The tuple_get nodes of `node`, by index (Graph.add_multi made one per value)."""
    found: dict[int, Node] = {}
    for user in node.graph.nodes:
        if user.op == "tuple_get" and user.inputs[0] is node:
            found.setdefault(user.attrs["index"], user)
    return [found[i] for i in range(len(node.type))]


def _saved(node: Node) -> tuple[Node, list[Node], list[Node]]:
    """(the scan with history: this one or a recomputing one, its carry history, its residuals)."""
    if not node.attrs.get("history"):
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
        node = again[0].inputs[0]
    values = _values(node)
    k, r = node.attrs["carries"], node.attrs["residuals"]
    return node, values[len(values) - k - r : len(values) - r], values[len(values) - r :]


@dataclass
class _Trial:
    """The forward step copied into a new graph and differentiated there."""

    graph: Graph
    inputs: dict[str, Node]  # by name: dcarry{i}, carry{i}, x{j}, dy{m}, residual{r}, const{j}
    copies: dict[Node, Node]  # forward body node -> its copy
    carries: list[int]  # forward carries, sequences and constants with a gradient
    sequences: list[int]
    constants: list[int]
    found: list[Node]  # their gradients, in that order


def _differentiate(body: Graph, attrs: Mapping[str, Any], cotangent_ys: Sequence[int]) -> _Trial:
    k = attrs["carries"]
    inputs, outputs = list(body.inputs.values()), list(body.outputs.values())
    carry_in, elements, constants = _split(inputs, attrs)
    carries = [i for i, c in enumerate(carry_in) if c.type.is_float]
    sequences = [j for j, x in enumerate(elements) if x.type.is_float]
    floats = [j for j, c in enumerate(constants) if c.type.is_float]
    residuals = [n for name, n in body.outputs.items() if name.startswith("residual")]
    graph = Graph(f"{body.name}_grad")
    named: dict[str, Node] = {}
    for i in carries:
        named[f"dcarry{i}"] = graph.input(f"dcarry{i}", carry_in[i].type)
    for i, c in enumerate(carry_in):
        named[f"carry{i}"] = graph.input(f"carry{i}", c.type)
    for j, x in enumerate(elements):
        named[f"x{j}"] = graph.input(f"x{j}", x.type)
    for m in cotangent_ys:
        named[f"dy{m}"] = graph.input(f"dy{m}", outputs[k + m].type)
    for r, node in enumerate(residuals):
        named[f"residual{r}"] = graph.input(f"residual{r}", node.type)
    for j, c in enumerate(constants):
        named[f"const{j}"] = graph.input(f"const{j}", c.type)
    bound = [named[f"carry{i}"] for i in range(len(carry_in))] + [
        named[f"x{j}"] for j in range(len(elements))
    ]
    bound += [named[f"const{j}"] for j in range(len(constants))]
    copies = copy_into(body, graph, dict(zip(inputs, bound, strict=True)))
    terms = [b.reduce_sum(copies[outputs[i]] * named[f"dcarry{i}"]) for i in carries]
    terms += [b.reduce_sum(copies[outputs[k + m]] * named[f"dy{m}"]) for m in cotangent_ys]
    objective = terms[0] if terms else graph.constant(0.0)
    for term in terms[1:]:
        objective = objective + term
    wrt = [named[f"carry{i}"] for i in carries] + [named[f"x{j}"] for j in sequences]
    found = gradients(objective, wrt + [named[f"const{j}"] for j in floats])
    return _Trial(graph, named, copies, carries, sequences, floats, found)


def _residuals(body: Graph, attrs: Mapping[str, Any]) -> list[Node]:
    """The body's computed values that its differentiated step reads (saved per step by a scan
    with history instead of being computed again in the reverse scan)."""
    k = attrs["carries"]
    outputs = list(body.outputs.values())
    trial = _differentiate(body, attrs, [m for m in range(len(outputs) - k) if outputs[k + m].type.is_float])
    for n, g in enumerate(trial.found):
        trial.graph.outputs[f"g{n}"] = g
    forward = {copy: node for node, copy in trial.copies.items() if node.op not in ("input", "constant")}
    live = live_nodes(trial.graph)
    used = {src for user in trial.graph.nodes if user in live and user not in forward for src in user.inputs}
    return [forward[copy] for copy in trial.graph.nodes if copy in forward and copy in used]


Reference = tuple[
    str, str
]  # ("input", name of a reverse-body input) or ("output", name of a reverse-body output)


@dataclass
class _Reverse:
    """The reverse scan's body and where each forward operand's gradient comes from."""

    body: Graph
    carries: list[int]  # forward carries whose cotangent the reverse scan carries
    sequences: list[int]  # forward sequences whose gradient is a per-step output dx{j}
    accumulated: list[int]  # constants whose gradient is carried and summed step by step
    hoisted: dict[int, list[tuple[str, list[Reference]]]]  # constant -> terms summed after the loop


def _reverse_body(body: Graph, attrs: Mapping[str, Any], cotangent_ys: Sequence[int]) -> _Reverse:
    """Autodiff of the step, then two rewrites: residual values read per step instead of computed again,
    and weight-gradient terms that are sums over the batch of per-step values (matmul(a, b,
    transpose_a) and reduce_sum over axis 0: what autodiff makes of x @ w and + bias) hoisted out of
    the loop, where one product over all steps does the work of T small ones."""
    trial = _differentiate(body, attrs, cotangent_ys)
    n_c, n_x = len(trial.carries), len(trial.sequences)
    per_input = {node: ("input", name) for name, node in trial.inputs.items()}
    steps: dict[Node, Reference] = {}

    def ref(node: Node) -> Reference:
        if node in per_input:
            return per_input[node]
        return steps.setdefault(node, ("output", f"step{len(steps)}"))

    accumulated, rest, hoisted = [], {}, {}
    for j, g in zip(trial.constants, trial.found[n_c + n_x :], strict=True):
        kept = []
        for term in _terms(g):
            kind = _sum_over_batch(term)
            if kind is None:
                kept.append(term)
            else:
                hoisted.setdefault(j, []).append((kind, [ref(operand) for operand in term.inputs]))
        if kept:
            accumulated.append(j)
            rest[j] = kept
    residual_copies = {
        trial.copies[node]: trial.inputs[f"residual{r}"]
        for r, node in enumerate(n for name, n in body.outputs.items() if name.startswith("residual"))
    }
    grad = Graph(trial.graph.name)
    new: dict[Node, Node] = {}
    order = [f"dcarry{i}" for i in trial.carries] + [f"dconst{j}" for j in accumulated]
    accumulators = {}
    for name in order[: len(trial.carries)]:
        new[trial.inputs[name]] = grad.input(name, trial.inputs[name].type)
    for j in accumulated:
        accumulators[j] = grad.input(f"dconst{j}", trial.inputs[f"const{j}"].type)
    for name, node in trial.inputs.items():
        if not name.startswith("dcarry"):
            new[node] = grad.input(name, node.type)
    new.update({copy: new[inp] for copy, inp in residual_copies.items()})
    new = copy_into(trial.graph, grad, new)
    for i, g in zip(trial.carries, trial.found[:n_c], strict=True):
        grad.outputs[f"dcarry{i}"] = new[g]
    for j in accumulated:
        total = accumulators[j]
        for term in rest[j]:
            total = total + new[term]
        grad.outputs[f"dconst{j}"] = total
    for j, g in zip(trial.sequences, trial.found[n_c : n_c + n_x], strict=True):
        grad.outputs[f"dx{j}"] = new[g]
    for node, (_, name) in steps.items():
        grad.outputs[name] = new[node]
    return _Reverse(grad, trial.carries, trial.sequences, accumulated, hoisted)


def _terms(node: Node) -> list[Node]:
    """The summands of a chain of adds (autodiff sums the gradient of a constant used twice)."""
    if node.op == "add" and node.inputs[0].shape == node.inputs[1].shape == node.shape:
        return _terms(node.inputs[0]) + _terms(node.inputs[1])
    return [node]


def _sum_over_batch(node: Node) -> str | None:
    """ "outer" for a^T b over the batch rows (matmul(a, b, transpose_a)), "sum" for a sum over the
    batch axis (reduce_sum over axis 0), None for anything else."""
    if node.op == "matmul":
        fits = node.attrs["transpose_a"] and not node.attrs["transpose_b"]
    elif node.op == "reduce_sum":
        fits = tuple(node.attrs["axes"]) == (0,) and not node.attrs["keepdims"]
    else:
        return None
    if fits and all(i.type.rank == 2 and i.shape[0] is None for i in node.inputs):
        return "outer" if node.op == "matmul" else "sum"
    return None


def _scan_gradient(node: Node, grads: Sequence[Node | None]) -> list[Node | None]:
    k = node.attrs["carries"]
    graph = node.graph
    carries, sequences, constants = _split(node.inputs, node.attrs)
    ys_grads = list(grads[k:])
    cotangent_ys = [m for m, g in enumerate(ys_grads) if g is not None and node.type.parts[k + m].is_float]
    saved_node, history, residuals = _saved(node)
    reverse = _reverse_body(saved_node.attrs["body"], saved_node.attrs, cotangent_ys)
    init = [grads[i] if grads[i] is not None else b.zeros(graph, carries[i].shape) for i in reverse.carries]
    init += [b.zeros(graph, constants[j].shape) for j in reverse.accumulated]
    stacked = {f"carry{i}": h for i, h in enumerate(history)} | {f"x{j}": x for j, x in enumerate(sequences)}
    stacked |= {f"dy{m}": ys_grads[m] for m in cotangent_ys} | {
        f"residual{r}": v for r, v in enumerate(residuals)
    }
    body_inputs = list(reverse.body.inputs)
    step_inputs = [name for name in body_inputs if name in stacked]
    results = scan(
        init,
        [stacked[name] for name in step_inputs],
        constants,
        reverse.body,
        reverse=not node.attrs.get("reverse", False),
        length=node.attrs["length"],
    )
    by_name = dict(zip(reverse.body.outputs, results, strict=True))
    out: list[Node | None] = [None] * len(node.inputs)
    for i in reverse.carries:
        out[i] = by_name[f"dcarry{i}"]
    for j in reverse.sequences:
        out[k + j] = by_name[f"dx{j}"]
    for j in set(reverse.accumulated) | set(reverse.hoisted):
        total = by_name.get(f"dconst{j}")
        for kind, refs in reverse.hoisted.get(j, []):
            values = [stacked[name] if where == "input" else by_name[name] for where, name in refs]
            term = _sum_outer(*values) if kind == "outer" else b.reduce_sum(values[0], (0, 1))
            total = term if total is None else total + term
        out[k + len(sequences) + j] = total
    return out


def _sum_outer(left: Node, right: Node) -> Node:
    """sum over steps and batch of left[t]^T right[t] for (T, N, F) and (T, N, G) stacks: one GEMM
    over the T * N rows."""

    def rows(x: Node) -> Node:
        return b.reshape(x, (BatchMultiple(x.shape[0]), x.shape[2]))

    return b.matmul(rows(left), rows(right), transpose_a=True)


def runs_by_rows(body: Graph, carries: int) -> bool:
    """Whether each group of the batch's rows can run the whole loop alone: the body treats rows
    independently and every carry and per-step output holds its own rows (a carry without a
    batch axis, a step counter, would be shared by all the groups)."""
    held = list(body.inputs.values())[:carries] + list(body.outputs.values())
    return rows_independent(body) and all(batch_leading(x.type) for x in held)


SCAN = register(
    OpDef(
        "scan",
        OpKind.CONTROL,
        None,
        _scan_infer,
        _scan_reference,
        _scan_gradient,
        "a loop over time running its body region once per step: carried values, per-step outputs",
        row_local=lambda node: rows_independent(node.attrs["body"]),
    )
)
