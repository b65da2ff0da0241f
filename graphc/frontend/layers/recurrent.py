"""SimpleRNN, LSTM and GRU with Keras 3's gate orders, defaults and weight layouts.

Each layer is the input projection of all time steps at once (one GEMM over N * T rows, the
input bias in its epilogue), then its cell's step formula (Keras's, written with graph ops) run
over time as a scan (time_loop.py): one native loop whose gradient autodiff builds as a reverse
scan (backpropagation through time), the weight gradients one GEMM after it. Compile time and code
size do not depend on the sequence length; `unroll=True` inlines the step per time step and gives
the same numbers.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphc.frontend import activations, constraints, initializers, regularizers
from graphc.frontend.layers.base import CallContext, KerasTensor, Layer, shape_of_list_call
from graphc.frontend.layers.time_loop import run_steps
from graphc.ir.graph import Graph, Node
from graphc.ir.types import Dim, TensorType, format_shape
from graphc.ops import builders as b

_IGNORED = ("implementation", "zero_output_for_mask", "use_cudnn", "time_major")  # engine choices in Keras
GATES = {"simple": 1, "lstm": 4, "gru": 3, "gru_v1": 3}  # column blocks of the kernels, per cell


def split_call(owner: Layer, inputs: Any, initial_state: Any) -> tuple[KerasTensor, list[Any]]:
    """(x, its initial states as given) of a recurrent call; Keras 2 also passes [x, *initial_state]."""
    if isinstance(inputs, (list, tuple)):
        inputs, initial_state = inputs[0], list(inputs[1:]) or initial_state
    if not isinstance(inputs, KerasTensor):
        raise TypeError(f"layer {owner.name!r} must be called on a symbolic tensor from Input(), got "
                        f"{type(inputs).__name__}")
    if initial_state is None:
        return inputs, []
    return inputs, list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]


def call_with_states(owner: Layer, shapes_of: Any, inputs: KerasTensor, states: list[KerasTensor]) -> Any:
    """The call's tensors, made by `owner` from x and its initial states, whose shapes `shapes_of`
    gives (a list of shapes for a call with several outputs)."""
    sources = [inputs, *states]
    owner.ensure_built(tuple(inputs.shape))
    shapes = shapes_of([t.shape for t in sources] if states else inputs.shape)
    owner.output_shape = shapes
    if isinstance(shapes, list):
        return KerasTensor.outputs_of(shapes, owner, sources)
    return KerasTensor(shapes, owner, sources)


class TakesInitialState:
    """A layer whose saved calls carry initial states: Keras 3 writes them as `initial_state` kwargs,
    Keras 2 as extra inbound tensors; both come back through call_on."""

    def call_on(self, inputs: Sequence[KerasTensor]) -> Any:
        return self(inputs[0], initial_state=list(inputs[1:]) or None)  # type: ignore[operator]

    def call_arguments(self, refs: list[Any]) -> dict[str, Any]:
        if len(refs) == 1:
            return super().call_arguments(refs)  # type: ignore[misc]
        return {"args": refs[:1], "kwargs": {"initial_state": refs[1:]}}


@dataclass(frozen=True)
class Step:
    """What a cell's step formula reads, inside the body graph."""

    z: Node  # x_t @ kernel (+ the input bias): (N, G * units)
    seen: Node  # h_prev as the recurrent product sees it (times the recurrent dropout mask)
    states: list[Node]  # h_prev (and c_prev)
    weights: list[Node]  # the recurrent kernel (in parts for GRU without reset_after)
    bias: Node | None  # GRU's recurrent bias row (reset_after)
    units: int
    act: Callable[[Node], Node]
    rec: Callable[[Node], Node]

    def product(self) -> Node:
        """h_prev @ u (+ the recurrent bias)."""
        product = b.matmul(self.seen, self.weights[0])
        return product if self.bias is None else product + self.bias

    def recurrent(self, z: Node) -> Node:
        return z + self.product()

    def gates(self, a: Node, count: int) -> list[Node]:
        """The column blocks of a (N, count * units) value, in Keras's gate order."""
        return [b.slice_(a, (0, k * self.units), (None, self.units)) for k in range(count)]


class CarriesStates:
    """`stateful=True` (Keras): the final states of a batch are the next batch's initial states,
    kept in the compiled model's state store (one row per sample of the declared batch size) until
    reset_states(). For the built-in layers and a user's cell alike."""

    name: str
    stateful: bool
    declared_batch_size: int | None
    state_sizes: list[int]  # the width of each state
    _state_stores: weakref.WeakSet[Any]

    def state_names(self) -> list[str]:
        raise NotImplementedError

    def carried_initial_states(self, ctx: CallContext) -> tuple[Node, list[Node], list[Node]]:
        """(the rows of the store this batch uses, the stored states, the initial states read there)."""
        batch = ctx.batch_size or self.declared_batch_size
        if batch is None and ctx.for_shape:
            batch = 1  # any size gives the output's shape
        if batch is None:
            raise ValueError(f"{type(self).__name__} {self.name!r} is stateful, so it needs to know its "
                             "batch size: give the model's first layer batch_input_shape=(batch, timesteps, "
                             "features), or Input(batch_shape=...)")
        stored = [ctx.graph.state(name, TensorType((batch, size)))
                  for name, size in zip(self.state_names(), self.state_sizes, strict=True)]
        rows = ctx.state_rows()
        return rows, stored, [b.gather(state, rows, 0) for state in stored]

    def carry_final_states(self, ctx: CallContext, rows: Node, stored: list[Node],
                           finals: list[Node]) -> None:
        """The states after the last step become the stored ones."""
        for state, final in zip(stored, finals, strict=True):
            zeros = ctx.graph.constant(np.zeros(state.shape, dtype=np.float32))
            ctx.graph.updates[state.attrs["name"]] = b.scatter_add(zeros, rows, final, 0)

    def bind_state_store(self, store: Any) -> None:
        """A new compiled model (e.g. the first fit after a predict) continues from the states the
        layer carries in the stores it already had."""
        if not self.stateful:
            return
        for previous in list(self._state_stores):
            for name in self.state_names():
                if name in previous and name in store and previous[name].shape == store[name].shape:
                    store.assign(name, previous.read(name))
        self._state_stores.add(store)

    def reset_states(self, states: Any = None) -> None:
        """Zero the carried states (Keras's reset_states; given values are not supported)."""
        if states is not None:
            raise NotImplementedError(f"{type(self).__name__} {self.name!r}: reset_states(states) with "
                                      "values is not supported; reset_states() zeroes them")
        if not self.stateful:
            raise AttributeError(f"layer {self.name!r} is not stateful; it has no states to reset")
        for store in list(self._state_stores):
            for name in self.state_names():
                if name in store:
                    store.assign(name, np.zeros(store[name].shape, dtype=np.float32))


class _RNN(CarriesStates, TakesInitialState, Layer):
    """What SimpleRNN, LSTM and GRU share: arguments, weights and the three graph steps."""

    CELL = "simple"
    supports_masking = True

    def __init__(self, units: int | None = None, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None,
                 recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 recurrent_constraint: Any = None, bias_constraint: Any = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 seed: int | None = None, **kwargs: Any) -> None:
        layer = type(self).__name__
        if kwargs.pop("time_major", False):
            raise ValueError(f"{layer}: time_major=True is not supported (Keras 3 has no such argument)")
        for key in _IGNORED:
            kwargs.pop(key, None)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"{layer}: `units` must be a positive integer, got {units!r}")
        super().__init__(**kwargs)
        if activity_regularizer is not None:
            raise NotImplementedError(f"{layer} {self.name!r}: activity_regularizer is not supported yet")
        for key, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
                raise ValueError(f"{layer}: `{key}` must be a number in [0, 1], got {rate!r}")
        self.units = units
        self.activation = self._activation(activation, "activation")
        self.recurrent_activation = self._activation(recurrent_activation, "recurrent_activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.seed = seed
        self._state_stores: weakref.WeakSet[Any] = weakref.WeakSet()

    def _activation(self, identifier: Any, key: str) -> str:
        try:
            return activations.serialize(activations.get(identifier))
        except (ValueError, TypeError) as error:
            raise ValueError(f"{type(self).__name__} {self.name!r}: `{key}`: {error}") from None

    def saved_weight_groups(self) -> list[tuple[str, str, list[Any]]]:
        """Keras 3 keeps them with the cell: layers/lstm/cell/vars, and an empty layers/lstm/vars."""
        return [("", self.name, []), ("cell", self.cell_name, self.weights)]

    @property
    def cell_name(self) -> str:
        """The weights' middle name, as Keras's cell names them (lstm/lstm_cell/kernel)."""
        return f"{_snake(type(self).__name__)}_cell"

    def _features(self, input_shape: tuple[Dim, ...]) -> int:
        if len(input_shape) != 3 or None in input_shape[1:]:
            raise ValueError(f"{type(self).__name__} layer {self.name!r} takes inputs of shape "
                             f"(batch, timesteps, features), got {format_shape(input_shape)}")
        return input_shape[2]  # type: ignore[return-value]

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        features, gates = self._features(input_shape), GATES[self.cell] * self.units
        cell = self.cell_name
        self.kernel = self.add_weight(f"{cell}/kernel", (features, gates), self.kernel_initializer,
                                      self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(f"{cell}/recurrent_kernel", (self.units, gates),
                                                self.recurrent_initializer, self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(f"{cell}/bias", self.bias_shape(), self.bias_initializer,
                                        self.bias_regularizer, constraint=self.bias_constraint)

    def bias_shape(self) -> tuple[int, ...]:
        return (GATES[self.cell] * self.units,)

    @property
    def cell(self) -> str:
        return self.CELL

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
        if self._features(input_shape) != self.kernel.shape[0]:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"{self.kernel.shape[0]} features per step, got {format_shape(input_shape)}")

    @property
    def state_count(self) -> int:
        """The states a call takes as initial_state and returns with return_state: h (and c)."""
        return 2 if self.cell == "lstm" else 1

    def __call__(self, inputs: Any, initial_state: Any = None, training: Any = None,  # type: ignore[override]
                 mask: Any = None, **kwargs: Any) -> Any:
        """Keras's call: `initial_state` (a list of h, and c for an LSTM) starts the recurrence from
        those tensors; with return_state the call returns [output, h, (c)], the final states."""
        return self.symbolic_call(self, inputs, initial_state)

    def symbolic_call(self, owner: Layer, inputs: Any, initial_state: Any) -> Any:
        """The call's tensors, made by `owner`: this layer, or the RNN(cell) layer wrapping it."""
        inputs, given = split_call(owner, inputs, initial_state)
        states = self._initial_states(given)
        if states and self.stateful:
            raise NotImplementedError(f"{type(self).__name__} {self.name!r}: initial_state with "
                                      "stateful=True is not supported yet")
        return call_with_states(owner, self.output_shape_for, inputs, states)

    def _initial_states(self, states: list[Any]) -> list[KerasTensor]:
        if not states:
            return []
        wanted = "[h, c]" if self.state_count == 2 else "[h]"
        if len(states) != self.state_count or not all(isinstance(t, KerasTensor) for t in states):
            raise ValueError(f"{type(self).__name__} {self.name!r}: initial_state must be {wanted}, symbolic "
                             f"tensors of shape (batch, {self.units}); got {states!r}")
        for state in states:
            if tuple(state.shape[1:]) != (self.units,):
                raise ValueError(f"{type(self).__name__} {self.name!r}: each initial state must have shape "
                                 f"(batch, {self.units}), got {format_shape(state.shape)}")
        return states

    def output_shape_for(self, input_shape: Any) -> Any:
        """The output's shape, or with return_state the list [output, h, (c)] of shapes; a list of
        input shapes means x and its initial states."""
        several = bool(input_shape) and isinstance(input_shape[0], (tuple, list))
        shapes = list(input_shape) if several else [input_shape]
        self.ensure_built(tuple(shapes[0]))
        return shape_of_list_call(self, shapes, f"layer {self.name!r} ({type(self).__name__})")

    def call(self, x: Any, ctx: CallContext) -> Any:
        x, states = (x[0], list(x[1:])) if isinstance(x, list) else (x, [])
        features = x.shape[2]
        if ctx.training and 0 < self.dropout < 1:  # one mask per sequence, shared by the steps (Keras 3)
            stream = self.seed if self.seed is not None else ctx.next_stream()
            keep = b.greater_equal(b.random_uniform(ctx.random_seed(), (None, 1, features), stream),
                                   self.dropout)
            x = x * (keep * (1.0 / (1.0 - self.dropout)))
        elif ctx.training and self.dropout == 1:
            x = x * 0.0
        # time-major before the projection: the transpose moves F, not G * units, values per step
        z = b.last_axis_matmul(b.transpose(x, (1, 0, 2)), self.weight_state(ctx, self.kernel))
        z, recurrent_bias = self.split_bias(z, ctx)
        if self.stateful:
            rows, stored, states = self.carried_initial_states(ctx)
        initial = states or [b.zeros(x.graph, (None, self.units)) for _ in range(self.state_count)]
        constants = self.recurrent_weights(self.weight_state(ctx, self.recurrent_kernel))
        if recurrent_bias is not None:
            constants.append(recurrent_bias)
        dropped = ctx.training and 0 < self.recurrent_dropout < 1
        if dropped:  # one mask of h per sequence (Keras 3's cells)
            stream = self.seed + 1 if self.seed is not None else ctx.next_stream()
            keep = b.greater_equal(b.random_uniform(ctx.random_seed(), (None, self.units), stream),
                                   self.recurrent_dropout)
            constants.append(keep * (1.0 / (1.0 - self.recurrent_dropout)))
        body = self._step_body(recurrent_bias is not None, dropped)
        steps = run_steps(body, initial, z, constants, ctx.mask, self.go_backwards, self.unroll, ctx.training)
        if self.stateful:
            self.carry_final_states(ctx, rows, stored, steps.finals)
        output = steps.sequence if self.return_sequences else steps.last
        return [output, *steps.finals] if self.return_state else output

    def recurrent_weights(self, u: Node) -> list[Node]:
        """The recurrent kernel as the step reads it (GRU without reset_after: in two parts)."""
        return [u]

    def _step_body(self, biased: bool, dropped: bool) -> Graph:
        """One time step, the scan's body: states h (and c), the projected input z_t (N, G*units) and
        the constants: the recurrent weights, the recurrent bias (GRU) and, with recurrent dropout,
        the mask h_prev is multiplied by."""
        units, width = self.units, GATES[self.cell] * self.units
        body = Graph(f"{self.name}_step")
        with body.scope(layer=self.name):
            states = [body.input(f"state{i}", TensorType((None, units))) for i in range(self.state_count)]
            z = body.input("x", TensorType((None, width)))
            weights = [body.input(f"recurrent_kernel{i}", TensorType((units, columns)))
                       for i, columns in enumerate(self.recurrent_columns())]
            bias = body.input("recurrent_bias", TensorType((width,))) if biased else None
            seen = states[0]
            if dropped:
                seen = seen * body.input("recurrent_mask", TensorType((None, units)))
            step = Step(z, seen, states, weights, bias, units, activations.get(self.activation),
                        activations.get(self.recurrent_activation))
            for i, new in enumerate(self.step(step)):
                body.outputs[f"state{i}"] = new
            body.outputs["output"] = body.outputs["state0"]
        return body

    def recurrent_columns(self) -> list[int]:
        return [GATES[self.cell] * self.units]

    def step(self, s: Step) -> list[Node]:
        """SimpleRNN: h = activation(z_t + h_prev @ u)."""
        return [s.act(s.recurrent(s.z))]

    @property
    def state_sizes(self) -> list[int]:
        return [self.units] * self.state_count

    def state_names(self) -> list[str]:
        """The runtime states a stateful layer carries from batch to batch: h (and c)."""
        return [f"{self.weight_prefix}/states/{part}" for part in ("h", "c")[:self.state_count]]

    def compute_mask(self, x: Any, mask: Node | None) -> Node | None:
        """The sequence keeps its mask for the next recurrent layer; the last step consumes it (the
        final states of return_state carry none)."""
        return mask if self.return_sequences else None

    def split_bias(self, z: Node, ctx: CallContext) -> tuple[Node, Node | None]:
        """(z with the bias added before the loop, the bias each step adds to the recurrent product):
        Keras adds one bias to x @ kernel + h @ recurrent_kernel, so all of it joins the input
        projection (the GEMM's epilogue adds it) except GRU's recurrent bias row (reset_after)."""
        return (z, None) if self.bias is None else (z + self.weight_state(ctx, self.bias), None)

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "return_sequences": self.return_sequences, "return_state": self.return_state,
            "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
            "zero_output_for_mask": False, "units": self.units, "activation": self.activation,
        }
        if self.CELL != "simple":
            config["recurrent_activation"] = self.recurrent_activation
        config.update({
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": None,
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
        })
        return config


def _snake(name: str) -> str:
    return {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru"}[name]


class SimpleRNN(_RNN):
    """h_t = activation(x_t W + h_{t-1} U + b)."""

    CELL = "simple"

    def __init__(self, units: int | None = None, activation: Any = "tanh", **kwargs: Any) -> None:
        if "recurrent_activation" in kwargs:
            raise ValueError("SimpleRNN has no `recurrent_activation` argument")
        super().__init__(units, activation=activation, **kwargs)


class LSTM(_RNN):
    """Keras's LSTM: gates i, f, c, o in the kernels' columns; unit_forget_bias starts the forget
    gate's bias at 1."""

    CELL = "lstm"

    def __init__(self, units: int | None = None, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        super().build(input_shape)
        if self.bias is not None and self.unit_forget_bias:
            units = self.units
            value = self.bias.numpy().copy()
            value[units:2 * units] = 1.0
            self.bias.assign(value)

    def step(self, s: Step) -> list[Node]:
        """c = f * c_prev + i * g, h = o * activation(c)."""
        i, f, g, o = s.gates(s.recurrent(s.z), 4)
        c = s.rec(f) * s.states[1] + s.rec(i) * s.act(g)
        return [s.rec(o) * s.act(c), c]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(_RNN):
    """Keras's GRU: gates z, r, h; reset_after=True (Keras 3's default) applies the reset gate to
    the recurrent product and keeps a second, recurrent bias row: bias (2, 3*units)."""

    def __init__(self, units: int | None = None, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    @property
    def cell(self) -> str:
        return "gru" if self.reset_after else "gru_v1"

    def bias_shape(self) -> tuple[int, ...]:
        gates = 3 * self.units
        return (2, gates) if self.reset_after else (gates,)

    def split_bias(self, z: Node, ctx: CallContext) -> tuple[Node, Node | None]:
        if self.bias is None or not self.reset_after:
            return super().split_bias(z, ctx)
        gates = 3 * self.units
        bias = self.weight_state(ctx, self.bias)
        rows = [b.reshape(b.slice_(bias, (row, 0), (1, gates)), (gates,)) for row in (0, 1)]
        return z + rows[0], rows[1]

    def recurrent_weights(self, u: Node) -> list[Node]:
        if self.reset_after:
            return [u]
        units = self.units
        return [b.slice_(u, (0, 0), (units, 2 * units)), b.slice_(u, (0, 2 * units), (units, units))]

    def recurrent_columns(self) -> list[int]:
        return [3 * self.units] if self.reset_after else [2 * self.units, self.units]

    def step(self, s: Step) -> list[Node]:
        """h = z * h_prev + (1 - z) * hh, the reset gate r scaling the recurrent product of the
        candidate hh (reset_after) or h_prev before it."""
        xz, xr, xh = s.gates(s.z, 3)
        if self.reset_after:
            iz, ir, ih = s.gates(s.product(), 3)
            gate_z, gate_r = s.rec(xz + iz), s.rec(xr + ir)
            candidate = s.act(xh + gate_r * ih)
        else:
            iz, ir = s.gates(b.matmul(s.seen, s.weights[0]), 2)
            gate_z, gate_r = s.rec(xz + iz), s.rec(xr + ir)
            candidate = s.act(xh + b.matmul(gate_r * s.seen, s.weights[1]))
        return [gate_z * s.seen + (1.0 - gate_z) * candidate]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reset_after": self.reset_after}


RECURRENT_LAYERS = (SimpleRNN, LSTM, GRU)
