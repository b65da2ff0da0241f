"""Bidirectional (a recurrent layer run forwards and a copy run backwards, merged) and
TimeDistributed (a per-step layer applied to every time step).

As in Keras 3, the wrapped layer is copied from its config into `forward_<name>` and a
`backward_<name>` with go_backwards flipped; with return_sequences the backward sequence is put
back in time order before the merge. Their weights are the wrapper's, named
`bidirectional/forward_lstm/lstm_cell/kernel` as Keras names them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.frontend.layers.base import CallContext, Layer
from graphc.frontend.layers.core import Activation, Dense, Dropout, LeakyReLU
from graphc.frontend.layers.recurrent import _RNN, RECURRENT_LAYERS
from graphc.ir.graph import Node
from graphc.ir.types import Dim
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


class Bidirectional(Layer):
    supports_masking = True

    def __init__(self, layer: Any = None, merge_mode: str | None = "concat", weights: Any = None,
                 backward_layer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = _recurrent_from_config(layer, "Bidirectional")
        if not isinstance(layer, _RNN):
            raise ValueError(f"Bidirectional: `layer` must be a SimpleRNN, LSTM or GRU layer, got {layer!r}")
        if layer.stateful:
            raise NotImplementedError(f"Bidirectional {self.name!r}: a wrapped layer with stateful=True is "
                                      "not supported yet")
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

    def __call__(self, inputs: Any, training: Any = None, **kwargs: Any) -> Any:
        if kwargs.get("initial_state") is not None:
            raise NotImplementedError(f"Bidirectional {self.name!r}: initial_state is not supported yet")
        return super().__call__(inputs, training, **kwargs)

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

    def call(self, x: Node, ctx: CallContext) -> Node | list[Node]:
        """The merged output; with return_state, Keras's [output(s), forward states, backward states]."""
        forward, forward_states = _with_states(self.forward_layer.call(x, ctx))
        backward, backward_states = _with_states(self.backward_layer.call(x, ctx))
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
    """`layer` applied to every time step of (batch, timesteps, ...) inputs.

    graphc's IR keeps one batch axis, so the steps cannot be folded into it; the layers whose
    arithmetic runs along the last axis only (Dense, Activation, Dropout, LeakyReLU) already act on
    each step when given the whole sequence, and are what TimeDistributed wraps here.
    """

    supports_masking = True

    def __init__(self, layer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = _per_step_from_config(layer)
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed: `layer` must be a layer, got {layer!r}")
        if type(layer).__name__ not in PER_STEP:
            raise NotImplementedError(f"TimeDistributed {self.name!r}: wrapping {type(layer).__name__} is "
                                      f"not supported by graphc yet (it wraps {', '.join(PER_STEP)})")
        self.layer = layer

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        if len(input_shape) < 3:
            raise ValueError(f"TimeDistributed {self.name!r} takes inputs of shape (batch, timesteps, "
                             f"...), got {input_shape}")
        self.layer.weight_prefix = f"{self.weight_prefix}/{self.layer.name}"
        self.layer.ensure_built(input_shape)
        self._weights = self.layer.weights

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
        self.layer.check_input_shape(input_shape)

    def call(self, x: Node, ctx: CallContext) -> Node:
        return self.layer.call(x, ctx)

    def saved_weight_groups(self) -> list[tuple[str, str, list[Any]]]:
        return [("", self.name, []), ("layer", self.layer.name, self.layer.weights)]

    def get_config(self) -> dict[str, Any]:
        inner = {"module": "keras.layers", "class_name": type(self.layer).__name__,
                 "config": self.layer.get_config(), "registered_name": None}
        return {**super().get_config(), "layer": inner}


def _per_step_from_config(entry: Any) -> Layer:
    if not isinstance(entry, dict) or entry.get("class_name") not in PER_STEP:
        raise NotImplementedError(f"TimeDistributed: wraps {', '.join(PER_STEP)} in graphc, got "
                                  f"{str(entry)[:80]}")
    config = dict(entry.get("config") or {})
    if isinstance(config.get("dtype"), dict):
        config["dtype"] = (config["dtype"].get("config") or {}).get("name")
    return PER_STEP[entry["class_name"]](**config)


PER_STEP: dict[str, type[Layer]] = {cls.__name__: cls for cls in (Dense, Activation, Dropout, LeakyReLU)}
