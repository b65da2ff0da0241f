"""Bidirectional (a recurrent layer run forwards and a copy run backwards, merged) and
TimeDistributed (a layer applied to every time step).

As in Keras 3, the wrapped layer is copied from its config into `forward_<name>` and a
`backward_<name>` with go_backwards flipped; with return_sequences the backward sequence is put
back in time order before the merge. Their weights are the wrapper's, named
`bidirectional/forward_lstm/lstm_cell/kernel` as Keras names them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.frontend.layers.base import CallContext, KerasTensor, Layer, shape_of_list_call
from graphc.frontend.layers.config_kwargs import layer_kwargs
from graphc.frontend.layers.core import Activation, Dense, Dropout, LeakyReLU
from graphc.frontend.layers.custom_objects import custom_layer_class
from graphc.frontend.layers.model_step import MODEL_CLASS_NAMES, ModelStep, is_model, model_from_entry
from graphc.frontend.layers.recurrent import (
    _RNN,
    RECURRENT_LAYERS,
    TakesInitialState,
    call_with_states,
    split_call,
)
from graphc.frontend.layers.step_loop import map_steps
from graphc.ir.graph import Node
from graphc.ir.types import BatchMultiple, Dim, format_shape
from graphc.ops import builders as b

MERGE_MODES = ("concat", "sum", "mul", "ave")


def _recurrent_from_config(entry: Any, what: str) -> _RNN:
    """A recurrent layer from {"class_name", "config"} (a file's nested layer), by graphc's table only."""
    classes = {cls.__name__: cls for cls in RECURRENT_LAYERS}
    if not isinstance(entry, dict) or entry.get("class_name") not in classes:
        raise ValueError(f"{what}: wraps SimpleRNN, LSTM or GRU layers, got {str(entry)[:80]}")
    config = dict(entry.get("config") or {})
    if isinstance(config.get("dtype"), dict):  # Keras 3's dtype policy
        config["dtype"] = (config["dtype"].get("config") or {}).get("name")
    return classes[entry["class_name"]](**config)


class Bidirectional(TakesInitialState, Layer):
    supports_masking = True

    def __init__(self, layer: Any = None, merge_mode: str | None = "concat", weights: Any = None,
                 backward_layer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = _recurrent_from_config(layer, "Bidirectional")
        if not isinstance(layer, _RNN):
            raise ValueError(f"Bidirectional: `layer` must be a SimpleRNN, LSTM or GRU layer, got {layer!r}")
        if merge_mode is not None and merge_mode not in MERGE_MODES:
            raise ValueError(f"Bidirectional {self.name!r}: merge_mode must be one of {MERGE_MODES} or None "
                             f"(both outputs as a list), got {merge_mode!r}")
        self.merge_mode = merge_mode
        self.forward_layer = self._copy(layer, "forward", layer.go_backwards)
        if isinstance(backward_layer, dict):
            backward_layer = _recurrent_from_config(backward_layer, "Bidirectional backward_layer")
        self.backward_layer = (backward_layer if isinstance(backward_layer, _RNN)
                               else self._copy(layer, "backward", not layer.go_backwards))
        if self.backward_layer.return_sequences != self.forward_layer.return_sequences:
            raise ValueError(f"Bidirectional {self.name!r}: the forward and backward layers must agree on "
                             "return_sequences")
        self.return_sequences = self.forward_layer.return_sequences
        self._initial_weights = weights

    def __call__(self, inputs: Any, initial_state: Any = None, training: Any = None,  # type: ignore[override]
                 mask: Any = None, **kwargs: Any) -> Any:
        """Keras's call: `initial_state` holds the forward layer's states, then the backward layer's
        ([fw_h, fw_c, bw_h, bw_c] for an LSTM); Keras 2 also takes them as [x, *states]."""
        if not isinstance(inputs, (list, tuple)) and initial_state is None:
            return super().__call__(inputs, training)
        inputs, given = split_call(self, inputs, initial_state)
        if not given:
            return super().__call__(inputs, training)
        states = self._initial_states(given)

        def shapes_of(shapes: Any) -> Any:
            return shape_of_list_call(self, shapes, f"layer {self.name!r} (Bidirectional)")

        return call_with_states(self, shapes_of, inputs, states)

    def _initial_states(self, states: list[Any]) -> list[KerasTensor]:
        if self.stateful:
            raise NotImplementedError(f"Bidirectional {self.name!r}: initial_state with stateful=True is not "
                                      "supported yet")
        parts = (("forward", self.forward_layer), ("backward", self.backward_layer))
        wanted = [f"{direction}_{name}" for direction, layer in parts
                  for name in ("h", "c")[:layer.state_count]]
        units = [layer.units for _, layer in parts for _ in range(layer.state_count)]
        if len(states) != len(wanted) or not all(isinstance(t, KerasTensor) for t in states):
            raise ValueError(f"Bidirectional {self.name!r}: initial_state must be [{', '.join(wanted)}], "
                             f"symbolic tensors; got {states!r}")
        for name, size, state in zip(wanted, units, states, strict=True):
            if tuple(state.shape[1:]) != (size,):
                raise ValueError(f"Bidirectional {self.name!r}: initial state {name} must have shape "
                                 f"(batch, {size}), got {format_shape(state.shape)}")
        return states

    def takes_list_in(self, count: int) -> bool:
        return count > 1

    def _copy(self, layer: _RNN, direction: str, go_backwards: bool) -> _RNN:
        config = layer.get_config()
        base = config["name"].removeprefix("forward_").removeprefix("backward_")
        config.update(name=f"{direction}_{base}", go_backwards=go_backwards)
        return type(layer).from_config(config)  # type: ignore[return-value]

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        for sub in (self.forward_layer, self.backward_layer):
            sub.weight_prefix = f"{self.weight_prefix}/{sub.name}"
            sub.ensure_built(input_shape)
        self._weights = self.forward_layer.weights + self.backward_layer.weights
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
        self.forward_layer.check_input_shape(input_shape)

    @property
    def stateful(self) -> bool:  # type: ignore[override]
        """A wrapped stateful layer: each direction carries its own states from batch to batch."""
        return self.forward_layer.stateful

    def bind_state_store(self, store: Any) -> None:
        for sub in (self.forward_layer, self.backward_layer):
            sub.bind_state_store(store)

    def reset_states(self, states: Any = None) -> None:
        for sub in (self.forward_layer, self.backward_layer):
            sub.reset_states(states)

    def call(self, x: Node | list[Node], ctx: CallContext) -> Node | list[Node]:
        """The merged output; with return_state, Keras's [output(s), forward states, backward states].
        Given [x, *initial states], the forward layer's come first (Keras's halves)."""
        x, states = (x[0], x[1:]) if isinstance(x, list) else (x, [])
        split = self.forward_layer.state_count
        forward_in = [x, *states[:split]] if states else x
        backward_in = [x, *states[split:]] if states else x
        forward, forward_states = _with_states(self.forward_layer.call(forward_in, ctx))
        backward, backward_states = _with_states(self.backward_layer.call(backward_in, ctx))
        steps = x.shape[1]
        if self.return_sequences and steps > 1:  # the backward layer's outputs come last step first
            backward = b.gather(backward, x.graph.constant(np.arange(steps - 1, -1, -1, dtype=np.int32)), 1)
        merged = [forward, backward] if self.merge_mode is None else [self._merge(forward, backward)]
        if not self.forward_layer.return_state:
            return merged if self.merge_mode is None else merged[0]
        return [*merged, *forward_states, *backward_states]

    def _merge(self, forward: Node, backward: Node) -> Node:
        if self.merge_mode == "concat":
            return b.concatenate([forward, backward], forward.type.rank - 1)
        if self.merge_mode == "sum":
            return forward + backward
        if self.merge_mode == "mul":
            return forward * backward
        return (forward + backward) * 0.5

    def compute_mask(self, x: Any, mask: Node | None) -> Node | None:
        return mask if self.return_sequences else None

    def saved_weight_groups(self) -> list[tuple[str, str, list[Any]]]:
        parts = (("forward_layer", self.forward_layer), ("backward_layer", self.backward_layer))
        nested = [(f"{part}/{group}".rstrip("/"), name, weights)
                  for part, sub in parts for group, name, weights in sub.saved_weight_groups()]
        return [("", self.name, []), *nested]

    def get_config(self) -> dict[str, Any]:
        def entry(layer: _RNN) -> dict[str, Any]:
            return {"module": "keras.layers", "class_name": type(layer).__name__,
                    "config": layer.get_config(), "registered_name": None}

        return {**super().get_config(), "merge_mode": self.merge_mode, "layer": entry(self.forward_layer),
                "backward_layer": entry(self.backward_layer)}


def _with_states(result: Node | list[Node]) -> tuple[Node, list[Node]]:
    """A recurrent layer's output and its final states (none without return_state)."""
    return (result[0], list(result[1:])) if isinstance(result, list) else (result, [])


class TimeDistributed(Layer):
    """`layer` applied to every time step of (batch, timesteps, ...) inputs, its weights shared by
    the steps: output (batch, timesteps, *layer's output per step). `layer` may also be a model of
    one input and one output.

    Layers whose arithmetic runs along the last axis only (Dense, Activation, LeakyReLU, Dropout
    without a noise_shape) already act on each step when given the whole sequence, so they need no
    loop; those of each sample alone (convolutions, pooling, Flatten: `Layer.folds_steps`) run once
    on the steps folded into the batch (k * N rows, as Keras 2 reshaped them); any other layer is
    traced once on one step into a scan over time (layers/step_loop.py).
    From a config, `layer` may nest a Sequential or functional model's config (Keras 3's and Keras 2's
    forms); saving's reader builds it, by the same rules as a top-level model.
    """

    supports_masking = True

    def __init__(self, layer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = _layer_from_entry(layer, self.name)
        if not isinstance(layer, Layer) and not is_model(layer):
            raise ValueError(f"TimeDistributed {self.name!r}: `layer` must be a layer or a model, got "
                             f"{layer!r}")
        self.layer = layer
        self.step: Layer = layer if isinstance(layer, Layer) else ModelStep(layer, self.name)
        if self.step.stateful:
            raise NotImplementedError(f"TimeDistributed {self.name!r}: wrapping a stateful layer "
                                      f"({layer.name!r}) is not supported")

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        if not self.step.built:
            self.step.weight_prefix = f"{self.weight_prefix}/{self.step.name}"
        self.step.ensure_built(self._frame(input_shape))
        self._weights = self.step.weights

    def _frame(self, input_shape: tuple[Dim, ...]) -> tuple[Dim, ...]:
        """One step's shape (batch, ...), what the wrapped layer sees."""
        if len(input_shape) < 3 or input_shape[1] is None:
            raise ValueError(f"TimeDistributed {self.name!r} takes inputs of shape (batch, timesteps, "
                             f"...) with a fixed number of steps, got {format_shape(input_shape)}")
        return (input_shape[0], *input_shape[2:])

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
        self.step.check_input_shape(self._frame(input_shape))

    def call(self, x: Node, ctx: CallContext) -> Node:
        if self.step.folds_steps:  # once over the N*T samples: (N, T, ...) is a view of (T * N rows, ...)
            y = self.step.record(b.reshape(x, (BatchMultiple(x.shape[1]), *x.shape[2:])), ctx)
            return b.reshape(y, (None, x.shape[1], *y.shape[1:]))
        if not self._per_step():
            return map_steps(self.step, x, ctx, self.name)
        if x.type.rank == 3:
            return self.step.record(x, ctx)
        rows = b.reshape(x, (None, int(np.prod(x.shape[1:-1])), x.shape[-1]))  # every step's rows, one axis
        y = self.step.record(rows, ctx)
        return b.reshape(y, (None, *x.shape[1:-1], y.shape[-1]))

    def _per_step(self) -> bool:
        """Whether the wrapped layer acts on each position of the last axis alone (no loop needed)."""
        if type(self.step) is Dropout:
            return self.step.noise_shape is None
        return type(self.step) in (Dense, Activation, LeakyReLU)

    def saved_weight_groups(self) -> list[tuple[str, str, list[Any]]]:
        nested = [(f"layer/{group}".rstrip("/"), name, weights)
                  for group, name, weights in self.step.saved_weight_groups()]
        return [("", self.name, []), *nested]

    def get_config(self) -> dict[str, Any]:
        if isinstance(self.layer, Layer):
            inner = {"module": "keras.layers", "class_name": type(self.layer).__name__}
        elif type(self.layer).__name__ == "Sequential":
            inner = {"module": "keras", "class_name": "Sequential"}
        else:
            inner = {"module": "keras.src.models.functional", "class_name": "Functional"}
        inner |= {"config": self.step.get_config(), "registered_name": None}
        return {**super().get_config(), "layer": inner}


def _layer_from_entry(entry: dict[str, Any], owner: str) -> Any:
    """The wrapped layer or model from a file's nested {"class_name", "config"}: graphc's layer classes,
    those the calling code gave as custom_objects, and Sequential or functional models read by saving's
    reader (which applies the same rules to the model's layers)."""
    from graphc.frontend.layers import LAYER_CLASSES  # the package's table (this module is part of it)

    name = entry.get("class_name")
    if name in MODEL_CLASS_NAMES:
        return model_from_entry(entry, owner)
    cls = LAYER_CLASSES.get(name) or custom_layer_class(name)
    if cls is None:
        raise ValueError(f"TimeDistributed {owner!r}: cannot load the wrapped layer class {name!r} (graphc's "
                         "layers, Sequential and Functional models, and custom_objects classes only)")
    return cls.from_config(layer_kwargs(name, dict(entry.get("config") or {})))  # type: ignore[union-attr]
