"""The builder an update rule appends its nodes with: hyperparameter inputs, slots, the step count."""

from __future__ import annotations

import math
from collections.abc import Mapping

from graphc.ir.graph import Graph, Node
from graphc.ir.types import Dim, TensorType
from graphc.ops import builders as b

OPTIMIZER_STATE_PREFIX = "optimizer/"
ITERATIONS = f"{OPTIMIZER_STATE_PREFIX}iterations"
HYPERPARAMETER_PREFIX = "hp/"
COMPLEMENT_PREFIX = "1-"  # `hp/1-beta_1`: 1 - beta_1, computed in double as Keras's Python does


def hyperparameter_value(values: Mapping[str, float], key: str) -> float:
    """The value fed for `key`: a hyperparameter, or `1-<name>` computed from the double it was set to
    (Keras 3 writes `1 - self.beta_1` with Python floats, then casts once to float32)."""
    if key.startswith(COMPLEMENT_PREFIX):
        return 1.0 - float(values.get(key[len(COMPLEMENT_PREFIX):], 0.0))
    return float(values.get(key, 0.0))


class UpdateStep:
    """Collects the new state values of one training step, as Keras's `assign` calls would.

    The step counter is an int64 state, as Keras keeps it: a float32 counter stops moving at 2**24
    steps. `iterations` is its value before this step and `t` the 1-based step of the Keras
    formulas, both cast to float32 as Keras casts them; `learning_rate` is set by the optimizer
    (it may include the legacy decay).
    """

    def __init__(self, graph: Graph, iterations_start: int) -> None:
        self.graph = graph
        self.updates: dict[str, Node] = {}
        self.initial_values: dict[str, float | int] = {}
        self.hyperparameter_inputs: dict[str, str] = {}
        counter = self.state(ITERATIONS, (), int(iterations_start), dtype="int64")
        self.next_counter = counter + 1
        self.iterations = b.cast(counter, "float32")
        self.t = b.cast(self.next_counter, "float32")
        self.learning_rate = self.hp("learning_rate")

    def hp(self, name: str) -> Node:
        """The scalar input `hp/<name>` the caller feeds from `optimizer.hyperparameters`."""
        input_name = HYPERPARAMETER_PREFIX + name
        self.hyperparameter_inputs[input_name] = name
        if input_name in self.graph.inputs:
            return self.graph.inputs[input_name]
        return self.graph.input(input_name, TensorType(()))

    def one_minus(self, name: str) -> Node:
        """1 - the hyperparameter `name`, as an input of its own (see hyperparameter_value)."""
        return self.hp(COMPLEMENT_PREFIX + name)

    def state(self, name: str, shape: tuple[Dim, ...], initial: float | int = 0.0,
              dtype: str = "float32") -> Node:
        """A persistent buffer the runtime fills with `initial` before the first step."""
        if initial != 0:
            self.initial_values[name] = float(initial) if dtype == "float32" else int(initial)
        return self.graph.state(name, TensorType(shape, dtype))

    def slot(self, slot: str, param_name: str, param: Node, initial: float = 0.0) -> Node:
        """The per-parameter state `optimizer/<slot>/<param name>`, shaped like the parameter."""
        return self.state(f"{OPTIMIZER_STATE_PREFIX}{slot}/{param_name}", param.shape, initial)

    def assign(self, target: Node | str, value: Node) -> Node:
        """Record the new value of a state (a state node or a state name); returns the value."""
        name = target if isinstance(target, str) else target.attrs["name"]
        expected = self.graph.states[name].type
        if value.type != expected:
            raise ValueError(f"update of state {name!r}: expected {expected}, got {value.type}")
        self.updates[name] = value
        return value

    @staticmethod
    def power(base: Node | float, exponent: Node) -> Node:
        """base**exponent (base >= 0) as exp(exponent*log(base)): elementary ops codegen vectorizes."""
        if isinstance(base, Node):
            return b.exp(exponent * b.log(base))
        return b.exp(exponent * math.log(base))
