"""Lambda: a Python function of keras.ops (or Keras 2's backend functions) as a layer, traced into
the compiled programs as a custom layer's call is."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphc.frontend.layers.base import KerasTensor, Layer, shape_of_list_call
from graphc.ir.graph import Node


class Lambda(Layer):
    """`Lambda(function, output_shape=None, mask=None, arguments=None)`.

    The output shape always comes from tracing the function (`output_shape` is accepted and
    checked against it when given). Saving writes the function's name; loading never runs code
    from the file, so a model file with a Lambda loads when the function is given by that name in
    `custom_objects` (a Python `lambda` has no name to give: rebuild that layer in code).
    """

    def __init__(self, function: Callable[..., Any], output_shape: Any = None, mask: Any = None,
                 arguments: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        if not callable(function):
            raise TypeError(f"Lambda: `function` must be callable, got {type(function).__name__}")
        if mask is not None:
            raise NotImplementedError("Lambda: `mask` is not supported yet")
        super().__init__(**kwargs)
        self.function = function
        self._on_list = False  # called on a list of tensors (set by the call)
        self.arguments = dict(arguments or {})
        declared = None if output_shape is None or callable(output_shape) else tuple(output_shape)
        self.declared_output_shape = declared

    def __call__(self, inputs: Any, training: Any = None, **kwargs: Any) -> Any:
        """On one tensor, or on a list of tensors (the function then gets the list, as in Keras)."""
        if isinstance(inputs, (list, tuple)):
            if not inputs or not all(isinstance(t, KerasTensor) for t in inputs):
                raise TypeError(f"Lambda {self.name!r}: called on a list, it takes symbolic tensors, got "
                                f"{[type(t).__name__ for t in inputs]}")
            self._on_list = True
            shape = self.output_shape_for([t.shape for t in inputs])
            self.output_shape = shape
            return KerasTensor(shape, self, list(inputs))
        return super().__call__(inputs, training, **kwargs)

    def takes_list_in(self, count: int) -> bool:
        return self._on_list or count > 1

    def call_on(self, inputs: Any) -> Any:
        return self(list(inputs) if self._on_list or len(inputs) > 1 else inputs[0])

    def call_arguments(self, refs: list[Any]) -> dict[str, Any]:
        return {"args": [refs] if self._on_list else refs, "kwargs": {}}

    def output_shape_for(self, input_shape: Any) -> Any:
        if not self._on_list:
            return super().output_shape_for(input_shape)
        return shape_of_list_call(self, input_shape, f"Lambda {self.name!r}")

    def call(self, inputs: Any, mask: Any = None, training: Any = None) -> Node:
        result = self.function(inputs, **self.arguments)
        declared = self.declared_output_shape
        if declared is not None and isinstance(result, Node):
            traced = tuple(result.shape[1:])
            if len(traced) != len(declared) or any(
                    d is not None and d != t for d, t in zip(declared, traced, strict=False)):
                raise ValueError(f"Lambda {self.name!r}: output_shape={declared} but the function gives "
                                 f"samples of shape {traced}")
        return result

    def get_config(self) -> dict[str, Any]:
        name = getattr(self.function, "__name__", "<lambda>")
        return {**super().get_config(),
                "function": {"module": "builtins", "class_name": "function", "config": name,
                             "registered_name": "function"},
                "output_shape": None if self.declared_output_shape is None
                else list(self.declared_output_shape),
                "arguments": self.arguments}


def function_name(config: Any) -> str | None:
    """The name a saved Lambda gives its function (Keras 3's {"class_name": "function", "config":
    name} or Keras 2's bare name with function_type "raw"); None for serialized bytecode."""
    if isinstance(config, str):
        return config
    if isinstance(config, Mapping) and config.get("class_name") == "function" and isinstance(
            config.get("config"), str):
        return config["config"]
    return None
