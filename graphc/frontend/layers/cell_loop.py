"""`RNN(cell)` for a cell the user writes (a Layer with `state_size` and `call(inputs, states)` in
keras.ops, as in Keras's custom-cell guide): its step is traced into the body of a scan op, whose
gradient (backpropagation through time) autodiff builds, and which compiles to one native loop
(time_loop.py, shared with the built-in SimpleRNN, LSTM and GRU, whose steps are written in code).
The scan moves the step's input projection x_t @ w before the loop (one GEMM over T * N rows).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.frontend.layers.base import CallContext, Layer, Weight, shape_of_list_call
from graphc.frontend.layers.recurrent import CarriesStates, TakesInitialState, call_with_states, split_call
from graphc.frontend.layers.time_loop import run_steps
from graphc.ir.graph import Graph, Node
from graphc.ir.types import Dim, TensorType, format_shape
from graphc.ops import builders as b


def is_custom_cell(cell: Any) -> bool:
    return isinstance(cell, Layer) and hasattr(cell, "state_size")


def _sizes(cell: Layer) -> list[int]:
    sizes = cell.state_size  # type: ignore[attr-defined]
    sizes = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
    if not sizes or not all(isinstance(s, (int, np.integer)) and s > 0 for s in sizes):
        raise ValueError(
            f"RNN cell {cell.name!r}: state_size must be a positive int or a list of them, "
            f"got {cell.state_size!r}"
        )  # type: ignore[attr-defined]
    return [int(s) for s in sizes]


class CellLoop(CarriesStates, TakesInitialState, Layer):
    """What RNN runs for a custom cell: the cell's step in a scan over time."""

    supports_masking = True

    def __init__(
        self,
        cell: Layer,
        return_sequences: bool,
        return_state: bool,
        go_backwards: bool,
        stateful: bool,
        unroll: bool,
        name: str | None,
    ) -> None:
        super().__init__(name=name)
        self.cell = cell
        self.state_sizes = _sizes(cell)
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.unroll, self.stateful = go_backwards, unroll, stateful
        self._state_stores: weakref.WeakSet[Any] = weakref.WeakSet()

    @property
    def weights(self) -> list[Weight]:
        return self.cell.weights

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        if not self.cell.built:
            self.cell.weight_prefix = f"{self.weight_prefix}/{self.cell.name}"
        self.cell.ensure_built((input_shape[0], input_shape[-1]))

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
        if len(input_shape) != 3 or None in input_shape[1:]:
            raise ValueError(
                f"RNN layer {self.name!r} takes inputs of shape (batch, timesteps, features) "
                f"with a fixed number of steps, got {format_shape(input_shape)}"
            )

    def symbolic_call(self, owner: Layer, inputs: Any, initial_state: Any) -> Any:
        inputs, states = split_call(owner, inputs, initial_state)
        if states and self.stateful:
            raise NotImplementedError(f"RNN {owner.name!r}: initial_state with stateful=True is not "
                                      "supported yet")
        wanted = [(None, s) for s in self.state_sizes]
        if states and [(None, *t.shape[1:]) for t in states] != wanted:
            raise ValueError(
                f"RNN {owner.name!r}: initial_state must be {len(wanted)} tensors of shapes "
                f"{wanted}, got {[t.shape for t in states]}"
            )
        return call_with_states(owner, self.output_shape_for, inputs, states)

    def output_shape_for(self, input_shape: Any) -> Any:
        several = bool(input_shape) and isinstance(input_shape[0], (tuple, list))
        shapes = list(input_shape) if several else [input_shape]
        self.ensure_built(tuple(shapes[0]))
        return shape_of_list_call(self, shapes, f"layer {self.name!r} (RNN of {type(self.cell).__name__})")

    def compute_mask(self, x: Any, mask: Node | None) -> Node | None:
        """The sequence keeps its mask for the next recurrent layer; the last step consumes it."""
        return mask if self.return_sequences else None

    def saved_weight_groups(self) -> list[tuple[str, str, list[Any]]]:
        return [("", self.name, []), ("cell", self.cell.name, self.weights)]

    def state_names(self) -> list[str]:
        return [f"{self.weight_prefix}/states/{i}" for i in range(len(self.state_sizes))]

    def call(self, x: Any, ctx: CallContext) -> Any:
        x, given = (x[0], list(x[1:])) if isinstance(x, list) else (x, [])
        if self.stateful:
            rows, stored, given = self.carried_initial_states(ctx)
        initial = given or [b.zeros(x.graph, (None, s)) for s in self.state_sizes]
        body, weights = self._step_graph(x.shape[2], ctx.training)
        constants = [self.weight_state(ctx, w) for w in weights]
        time_major = b.transpose(x, (1, 0, 2))
        steps = run_steps(body, initial, time_major, constants, ctx.mask, self.go_backwards, self.unroll,
                          ctx.training)
        if self.stateful:
            self.carry_final_states(ctx, rows, stored, steps.finals)
        result = steps.sequence if self.return_sequences else steps.last
        return [result, *steps.finals] if self.return_state else result

    def _step_graph(self, features: int, training: bool) -> tuple[Graph, list[Weight]]:
        """The cell's call on one step, traced with its weights as the body's inputs."""
        cell = self.cell
        body = Graph(f"{cell.name}_step")
        states = [body.input(f"state{i}", TensorType((None, s))) for i, s in enumerate(self.state_sizes)]
        x = body.input("x", TensorType((None, features)))
        weights = list(cell.weights)
        nodes = [body.input(f"weight{i}", TensorType(w.shape)) for i, w in enumerate(weights)]
        node_of = {id(w): node for w, node in zip(weights, nodes, strict=True)}
        extra = {"training": training} if "training" in inspect.signature(cell.call).parameters else {}
        with cell.weights_as(lambda weight: node_of[id(weight)]), body.scope(layer=cell.name):
            result = cell.call(x, states, **extra)
        output, new_states = _step_result(cell, result, len(states))
        for i, (state, new) in enumerate(zip(states, new_states, strict=True)):
            if new.type != state.type:
                raise ValueError(
                    f"RNN cell {cell.name!r}: state {i} has shape {format_shape(state.shape)}, "
                    f"call() returned {format_shape(new.shape)}"
                )
            body.outputs[f"state{i}"] = new
        body.outputs["output"] = output
        return body, weights


def _step_result(cell: Layer, result: Any, count: int) -> tuple[Node, Sequence[Node]]:
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise TypeError(
            f"RNN cell {cell.name!r}: call(inputs, states) must return (output, new_states), got "
            f"{type(result).__name__}"
        )
    output, new_states = result
    new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
    if (
        not isinstance(output, Node)
        or len(new_states) != count
        or not all(isinstance(s, Node) for s in new_states)
    ):
        raise TypeError(
            f"RNN cell {cell.name!r}: call() must return a tensor and {count} state tensor(s) made "
            "with graphc.keras.ops from its inputs"
        )
    return output, new_states
