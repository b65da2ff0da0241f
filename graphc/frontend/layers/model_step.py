"""A Sequential or functional model called as one layer: what TimeDistributed(model) runs per step.

graphc's models are not layers (models.py sits above the layers), so the wrapper holds the model and
this replays its layer calls on the step's tensor, as recording a model does.
"""

from __future__ import annotations

from typing import Any

from graphc.frontend.layers.base import CallContext, Layer, Weight
from graphc.ir.graph import Node
from graphc.ir.types import Dim, format_shape


def is_model(value: Any) -> bool:
    """A built model of one input and one output (duck-typed: models are defined above the layers)."""
    return not isinstance(value, Layer) and all(hasattr(value, key) for key in ("inputs", "outputs",
                                                                                  "operations"))


class ModelStep(Layer):
    """The model's layer calls on one tensor; its weights are the model's."""

    def __init__(self, model: Any, owner: str) -> None:
        super().__init__(name=model.name)
        if not model.outputs:
            raise ValueError(f"TimeDistributed {owner!r}: the wrapped model {model.name!r} is not built; "
                             "give it an Input first")
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise NotImplementedError(f"TimeDistributed {owner!r}: the wrapped model {model.name!r} must "
                                      "have one input and one output")
        self.model = model
        self.built = True
        self.stateful = any(layer.stateful for layer in model.layers)

    @property
    def weights(self) -> list[Weight]:
        return self.model.weights

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
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
        """Keras 3 keeps a nested model's layers under its `layers/<name>` groups."""
        return [(f"layers/{layer.name}/{group}".rstrip("/"), name, weights)
                for layer in self.model.layers for group, name, weights in layer.saved_weight_groups()]

    def get_config(self) -> dict[str, Any]:
        return self.model.get_config()
