"""A recurrent step run over time, with Keras's conventions, for every recurrent layer: the built-in
SimpleRNN, LSTM and GRU steps and a cell the user writes alike.

The step is a graph (the body): inputs the k states, one time step of the input and the constants
(weights, a dropout mask); outputs the k new states and the step's output. It runs as a scan op
(one native loop; autodiff builds its gradient, backpropagation through time) or, with
`unroll=True`, inlined once per step. A masked step keeps the states and repeats the previous
output (Keras's zero_output_for_mask=False); go_backwards returns the outputs in processing order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import copy_into
from graphc.ir.types import TensorType
from graphc.ops import builders as b
from graphc.ops.scan import scan


@dataclass(frozen=True)
class Steps:
    """What running the step over time gives."""

    sequence: Node  # every step's output, (N, T, ...), in processing order
    last: Node  # the last processing step's output
    finals: list[Node]  # the states after the last step


def run_steps(body: Graph, initial: list[Node], x: Node, constants: list[Node], mask: Node | None,
              go_backwards: bool, unroll: bool, training: bool) -> Steps:
    """The body over the steps of x, time-major (T, N, ...), from the `initial` states; `mask` (N, T)
    or None."""
    graph, steps = x.graph, x.shape[0]
    count = len(initial)
    sequences = [x]
    if mask is not None:
        if body.outputs["output"] is not body.outputs["state0"]:  # carried as previous_output
            initial = [*initial, b.zeros(graph, body.outputs["output"].shape)]
        body = _masked(body, count)
        sequences.append(b.transpose(b.reshape(mask, (None, steps, 1)), (1, 0, 2)))
    if unroll:  # Keras's unroll=True: the same numbers
        order = reversed(range(steps)) if go_backwards else range(steps)
        finals, outputs = _unrolled(initial, [[seq[t] for seq in sequences] for t in order], constants, body)
        sequence = b.concatenate([b.reshape(o, (None, 1, *o.shape[1:])) for o in outputs], axis=1)
        return Steps(sequence, outputs[-1], finals[:count])
    values = scan(initial, sequences, constants, body, reverse=go_backwards, history=training)
    finals, stacked = values[: len(initial)], values[len(initial)]
    if go_backwards:
        order = graph.constant(np.arange(steps - 1, -1, -1, dtype=np.int32))
        stacked = b.gather(stacked, order, axis=0)
    sequence = b.transpose(stacked, (1, 0, *range(2, stacked.type.rank)))
    return Steps(sequence, stacked[steps - 1], finals[:count])


def _unrolled(
    initial: list[Node], elements: list[list[Node]], constants: list[Node], body: Graph
) -> tuple[list[Node], list[Node]]:
    """(final carries, each step's output) with the body copied in once per step; `elements` holds each
    step's elements in processing order."""
    carries, outputs = initial, []
    count, inputs, results = len(initial), list(body.inputs.values()), list(body.outputs.values())
    for step in elements:
        bound = dict(zip(inputs, [*carries, *step, *constants], strict=True))
        mapping = copy_into(body, initial[0].graph, bound)
        carries = [mapping[node] for node in results[:count]]
        outputs.append(mapping[results[count]])
    return carries, outputs


def _masked(body: Graph, states: int) -> Graph:
    """The step with Keras's masking: elements (x, mask (N, 1)); where the mask is 0 the states and the
    output are the previous ones. An output that is not the first new state (the built-in layers' h)
    is carried too, as `previous_output`."""
    inputs = list(body.inputs.values())
    output = body.outputs["output"]
    own = output is not body.outputs["state0"]
    masked = Graph(body.name)
    bound = {node: masked.input(node.attrs["name"], node.type) for node in inputs[:states]}
    previous = masked.input("previous_output", output.type) if own else None
    x = inputs[states]
    bound[x] = masked.input(x.attrs["name"], x.type)
    keep = masked.input("mask", TensorType((None, 1)))
    bound |= {node: masked.input(node.attrs["name"], node.type) for node in inputs[states + 1 :]}
    mapping = copy_into(body, masked, bound)

    def blend(new: Node, old: Node) -> Node:
        return new * keep + old * (1.0 - keep)

    for i, node in enumerate(inputs[:states]):
        masked.outputs[f"state{i}"] = blend(mapping[body.outputs[f"state{i}"]], bound[node])
    if previous is None:
        masked.outputs["output"] = masked.outputs["state0"]
        return masked
    chosen = blend(mapping[output], previous)
    masked.outputs["previous_output"] = chosen
    masked.outputs["output"] = chosen
    return masked
