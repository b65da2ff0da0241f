"""One layer applied to every time step of (batch, T, ...) inputs as a scan over time (what
TimeDistributed does for layers that are not per-step arithmetic along the last axis).

The layer's call is recorded once, on one step's element (N, *frame), into a scratch graph whose
CallContext answers for the loop; that graph is then rebuilt as the scan's body:
- the weight states it read become the body's constants (the outer graph's states are the operands),
  so the weights are shared by every step and their gradients summed over the steps;
- states it updates (BatchNormalization's moving statistics in training) become carries, so each step
  updates the value the step before left, as Keras's per-step calls do; the final carries are the
  outer program's state updates;
- random draws read a per-step seed (the program's seed * T + t, a sequence of the scan), so every
  step draws its own masks, as Keras's per-step calls do.
The code and node count do not depend on T.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.frontend.layers.base import CallContext, Layer, Weight
from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import copy_into
from graphc.ir.types import TensorType
from graphc.ops import builders as b
from graphc.ops.scan import scan

_SEED = TensorType((), "int64")


@dataclass
class StepContext(CallContext):
    """The context a layer records one step in: random draws, streams and state updates go through
    `outer`, the context of the program the loop is part of."""

    outer: CallContext | None = None
    owner: str = ""  # the wrapper's name, for errors
    updated: dict[str, Weight] = field(default_factory=dict)

    def random_seed(self) -> Node:
        if self._seed is None:
            self._seed = self.graph.input("seed", _SEED)
        return self._seed

    @property
    def seed(self) -> Node | None:
        """The step's seed input, if a layer drew random numbers."""
        return self._seed

    def next_stream(self) -> int:
        assert self.outer is not None
        return self.outer.next_stream()

    def update_state(self, weight: Weight, value: Node) -> None:
        super().update_state(weight, value)
        self.updated[weight.path] = weight

    def state_rows(self) -> Node:
        raise NotImplementedError(f"{self.owner!r}: a stateful layer cannot run inside TimeDistributed")


def map_steps(layer: Layer, x: Node, ctx: CallContext, owner: str) -> Node:
    """layer(x[:, t]) for every t, stacked as (N, T, *output): one scan whose body is the layer's call."""
    steps, graph = x.shape[1], x.graph
    traced = Graph(f"{layer.name}_step")
    element = traced.input("x", TensorType((None, *x.shape[2:])))
    inner = StepContext(traced, ctx.training, batch_size=ctx.batch_size, for_shape=ctx.for_shape,
                        outer=ctx, owner=owner)
    y = layer.record(element, inner)
    if not isinstance(y, Node):
        raise NotImplementedError(f"{owner!r}: {type(layer).__name__} {layer.name!r} returns several "
                                  "tensors, which TimeDistributed cannot stack")
    if y is element:  # the layer is the identity here (dropout in inference)
        return x
    if traced.updates.keys() - inner.updated.keys():
        raise NotImplementedError(f"{owner!r}: {type(layer).__name__} {layer.name!r} carries states "
                                  "across calls, which TimeDistributed cannot loop over")
    body, carried, constants = _body(traced, element, y, inner.seed)
    initial = [graph.state(path, traced.updates[path].type) for path in carried]
    sequences = [b.transpose(x, (1, 0, *range(2, x.type.rank)))]
    if inner.seed is not None:  # step t of training step s draws with seed s*T + t: every draw its own
        counter = graph.constant(np.arange(steps, dtype=np.int64))
        sequences.append(ctx.random_seed() * steps + counter)
    outer = [graph.state(n.attrs["name"], n.attrs["type"], trainable=n.attrs["trainable"]) for n in constants]
    values = scan(initial, sequences, outer, body, history=ctx.training, length=steps)
    for path, final in zip(carried, values[:len(carried)], strict=True):
        ctx.update_state(inner.updated[path], final)
    stacked = values[len(initial)]
    return b.transpose(stacked, (1, 0, *range(2, stacked.type.rank)))


def _body(traced: Graph, element: Node, y: Node, seed: Node | None) -> tuple[Graph, list[str], list[Node]]:
    """The scan body (carries, element, seed, constants -> new carries, y), the paths of the updated
    states and the state nodes read as constants, both in body input order."""
    body = Graph(traced.name)
    carried = list(traced.updates)
    constants = [node for path, node in traced.states.items() if path not in traced.updates]
    carries = [body.input(f"carry{i}", traced.updates[path].type) for i, path in enumerate(carried)]
    bound = {traced.states[path]: carry for path, carry in zip(carried, carries, strict=True)
             if path in traced.states}
    bound[element] = body.input("x", element.type)
    if seed is not None:
        bound[seed] = body.input("seed", _SEED)
    bound |= {node: body.input(f"const{i}", node.type) for i, node in enumerate(constants)}
    mapping = copy_into(traced, body, bound)
    for i, path in enumerate(carried):
        body.outputs[f"carry{i}"] = mapping[traced.updates[path]]
    body.outputs["y"] = mapping[y]
    return body, carried, constants
