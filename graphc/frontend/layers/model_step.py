"""A Sequential or functional model called as one layer: what TimeDistributed(model) runs per step.

graphc's models are not layers (models.py sits above the layers), so the wrapper holds the model and
this replays its layer calls on the step's tensor, as recording a model does. Building a wrapped model
from a file's config is saving's work (saving/config.py, above the layers), which hands its loader
down through `register_model_loader`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphc.frontend.layers.base import CallContext, Layer, Weight
from graphc.frontend.layers.naming import to_snake_case
from graphc.ir.graph import Node
from graphc.ir.types import Dim, format_shape

MODEL_CLASS_NAMES = ("Sequential", "Functional", "Model")
_MODEL_LOADER: list[Callable[[dict[str, Any]], Any]] = []


def register_model_loader(loader: Callable[[dict[str, Any]], Any]) -> None:
    """`loader` builds a model from {"class_name", "config"} with saving's safe reader only."""
    _MODEL_LOADER[:] = [loader]


def model_from_entry(entry: dict[str, Any], owner: str) -> Any:
    """The model a wrapper's config nests, built by saving's reader; its errors name the wrapper."""
    if not _MODEL_LOADER:
        raise RuntimeError(f"TimeDistributed {owner!r}: loading a wrapped model needs graphc.frontend.saving "
                           "(import graphc.keras)")
    try:
        return _MODEL_LOADER[0](entry)
    except ValueError as err:
        raise ValueError(f"TimeDistributed {owner!r}: its wrapped {entry.get('class_name')} model: {err}") \
            from None


def is_model(value: Any) -> bool:
    """A model (duck-typed: models are defined above the layers)."""
    return not isinstance(value, Layer) and all(hasattr(value, key) for key in ("inputs", "outputs",
                                                                                  "operations"))


def object_tree_keys(layers: Sequence[Layer]) -> list[tuple[Layer, str]]:
    """Keras 3's object tree names a model's layer groups by class in snake case, made unique in
    model order (dense, dense_1, ...), never by the layers' own names."""
    keys, used = [], {}
    for layer in layers:
        base = to_snake_case(type(layer).__name__)
        count = used.get(base, 0)
        used[base] = count + 1
        keys.append((layer, base if count == 0 else f"{base}_{count}"))
    return keys


class ModelStep(Layer):
    """The model's layer calls on one tensor; its weights are the model's. A Sequential without an
    input shape (Keras 2 files write a wrapped one so) is built on the wrapper's frame shape."""

    def __init__(self, model: Any, owner: str) -> None:
        super().__init__(name=model.name)
        if not model.outputs and not model.layers:
            raise ValueError(f"TimeDistributed {owner!r}: the wrapped model {model.name!r} is not built; "
                             "give it an Input first")
        self.model = model
        self.owner = owner
        self.built = bool(model.outputs)
        if self.built:
            self._check_one_in_one_out()
        self.stateful = any(layer.stateful for layer in model.layers)

    def _check_one_in_one_out(self) -> None:
        if len(self.model.inputs) != 1 or len(self.model.outputs) != 1:
            raise NotImplementedError(f"TimeDistributed {self.owner!r}: the wrapped model "
                                      f"{self.model.name!r} must have one input and one output")

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        self.model.build_for_input(tuple(input_shape[1:]))
        self._check_one_in_one_out()

    @property
    def weights(self) -> list[Weight]:
        return self.model.weights

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
        if not self.built:
            return
        want = tuple(self.model.inputs[0].shape)
        if tuple(input_shape[1:]) != want[1:]:
            raise ValueError(f"model {self.model.name!r} takes steps of shape {format_shape(want)}, got "
                             f"{format_shape(tuple(input_shape))}")

    def call(self, x: Node, ctx: CallContext) -> Node:
        values: dict[int, Node] = {id(self.model.inputs[0]): x}
        calls: dict[int, Any] = {}  # a call with several outputs is recorded once, for all of them
        for layer, sources, out in self.model.operations:
            siblings = out.siblings
            if siblings is None or id(siblings) not in calls:
                args = [values[id(source)] for source in sources]
                result = layer.record(args if layer.takes_list_in(len(args)) else args[0], ctx)
                if siblings is None:
                    values[id(out)] = result
                    continue
                calls[id(siblings)] = result
            values[id(out)] = calls[id(siblings)][out.index]
        return values[id(self.model.outputs[0])]

    def saved_weight_groups(self) -> list[tuple[str, str, list[Weight]]]:
        """Keras 3 saves a nested model as its own (empty) `vars` named after it, then its layers under
        `layers/<snake_case class, made unique>`, as it saves a top-level model."""
        nested = [(f"layers/{key}/{group}".rstrip("/"), name, weights)
                  for layer, key in object_tree_keys(self.model.layers)
                  for group, name, weights in layer.saved_weight_groups()]
        return [("", self.model.name, []), *nested]

    def get_config(self) -> dict[str, Any]:
        return self.model.get_config()
