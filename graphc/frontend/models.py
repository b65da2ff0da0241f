"""Sequential and functional models: layer graphs with Keras's model API."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc.frontend import saving
from graphc.frontend.eager import EagerArray
from graphc.frontend.layers.base import KerasTensor, Layer, Weight, keras_history
from graphc.frontend.layers.input_layer import Input, InputLayer
from graphc.frontend.layers.naming import to_snake_case, unique_name
from graphc.frontend.layers.operation import TensorOperation
from graphc.frontend.recording import active_recording, on_tensors
from graphc.frontend.summary import SummaryRow, default_line_length, format_summary
from graphc.frontend.trainer import Trainer
from graphc.ir.types import Dim, format_shape

Operation = tuple[Layer, list[KerasTensor], KerasTensor]


class Model(Trainer):
    """A functional model `Model(inputs, outputs)`; also the base of Sequential."""

    def __init__(self, inputs: KerasTensor | Sequence[KerasTensor] | None = None,
                 outputs: KerasTensor | Sequence[KerasTensor] | None = None,
                 name: str | None = None, trainable: bool = True) -> None:
        super().__init__()
        self.name = name or unique_name(to_snake_case(type(self).__name__) if type(self) is not Model
                                        else "functional")
        self.trainable = trainable
        self.inputs: list[KerasTensor] = []
        self.outputs: list[KerasTensor] = []
        self.operations: list[Operation] = []
        self._layers: list[Layer] = []
        if inputs is not None or outputs is not None:
            self._set_graph(_as_list(inputs, "inputs"), _as_list(outputs, "outputs"))

    def _set_graph(self, inputs: list[KerasTensor], outputs: list[KerasTensor]) -> None:
        if not inputs or not outputs:
            raise ValueError(f"model {self.name!r}: a model needs inputs and outputs, got {len(inputs)} "
                             f"inputs and {len(outputs)} outputs")
        operations = _trace(inputs, outputs)
        self.inputs, self.outputs, self.operations = inputs, outputs, operations
        layers = [t.layer for t in inputs] + [op[0] for op in operations]
        self._layers = list({id(layer): layer for layer in layers}.values())  # a shared layer is listed once

    @property
    def built(self) -> bool:
        return bool(self.outputs)

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; layers are {[layer.name for layer in self.layers]}")

    @property
    def input_shape(self) -> tuple[Dim, ...]:
        self._require_built("input_shape")
        return self.inputs[0].shape

    @property
    def output_shape(self) -> Any:
        """One shape, or a list of shapes for a model with several outputs (as Keras)."""
        self._require_built("output_shape")
        if len(self.outputs) > 1:
            return [tensor.shape for tensor in self.outputs]
        return self.outputs[0].shape

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(f"model {self.name!r} has no input shape yet, so `{what}` is unknown: give the "
                             "first layer input_shape=..., or call fit/predict first")

    def build_for_input(self, sample_shape: tuple[int, ...]) -> None:
        """Functional models are built at construction; data of another shape is an input error.

        The first layer that cannot take the data raises, so the message names that layer,
        as Keras's does. A subclass that defines call() is built on its first data instead.
        """
        if not self.outputs and callable(getattr(self, "call", None)):
            self._trace_call(sample_shape)
            return
        if len(self.inputs) > 1:
            expected_all = tuple(tuple(tensor.shape[1:]) for tensor in self.inputs)
            for index, (given, want) in enumerate(zip(sample_shape, expected_all, strict=True)):
                if tuple(given) != want:
                    raise ValueError(f'Input {index} of model "{self.name}" is incompatible: expected shape '
                                     f"{format_shape((None, *want))}, got {format_shape((None, *given))}")
            return
        expected = tuple(self.inputs[0].shape[1:])
        if tuple(sample_shape) == expected:
            return
        shapes = {id(self.inputs[0]): (None, *sample_shape)}
        for layer, sources, out in self.operations:
            given = [shapes[id(source)] for source in sources]
            shape = layer.output_shape_for(given if layer.takes_list_in(len(given)) else given[0])
            shapes[id(out)] = shape[out.index] if out.siblings is not None else shape
        raise ValueError(
            f'Input 0 of model "{self.name}" is incompatible: expected shape '
            f"{format_shape((None, *expected))}, got {format_shape((None, *sample_shape))}"
        )

    def _trace_call(self, sample_shape: tuple[int, ...]) -> None:
        """A Keras-style subclass (layers made in __init__, used in call()) becomes the functional graph
        that call() builds when given a symbolic input of the data's shape: its layer calls, and
        arithmetic or keras.ops on the symbolic tensors as operation layers."""
        inputs = Input(shape=tuple(sample_shape))
        parameters = inspect.signature(self.call).parameters
        try:
            outputs = self.call(inputs, **({"training": None} if "training" in parameters else {}))
        except TypeError as err:
            raise TypeError(f"model {self.name!r}: graphc builds subclassed models by calling call() once "
                            f"on a symbolic input; Python control flow on its tensors or other libraries' "
                            f"functions cannot be recorded ({err})") from None
        if not isinstance(outputs, KerasTensor):
            raise TypeError(f"model {self.name!r}: call() must return the output of a layer call (graphc "
                            f"builds subclassed models from their layer calls), got {type(outputs).__name__}")
        self._set_graph([inputs], [outputs])
        own = [layer for layer, _, _ in self.operations if not isinstance(layer, TensorOperation)]
        self._layers = list({id(layer): layer for layer in own}.values())  # Keras lists its own layers

    def build(self, input_shape: Sequence[Dim]) -> None:
        """Keras's model.build(input_shape=(None, ...)): the batch axis first, then one sample's shape."""
        shape = tuple(input_shape)
        if not shape or any(not isinstance(d, (int, np.integer)) or d <= 0 for d in shape[1:]):
            raise ValueError(f"model {self.name!r}: build() takes (batch, *sample shape), "
                             f"got {input_shape!r}")
        self.build_for_input(tuple(int(d) for d in shape[1:]))  # type: ignore[arg-type]

    def __call__(self, x: Any, training: bool = False) -> Any:
        """The model on a batch of data, eagerly: the compiled predict program, or with training=True
        the forward pass in training mode (new dropout masks, BatchNormalization's statistics
        updated), as Keras's eager call. Under a GradientTape the call is recorded instead and gives
        Tensors (frontend/recording.py)."""
        recording = active_recording()
        if recording is not None:
            return recording.call_model(self, x, bool(training))
        outputs = self.predict_on_batch(x, training=training)
        if isinstance(outputs, list):
            return [output.view(EagerArray) for output in outputs]
        return outputs.view(EagerArray)

    # -- weights --------------------------------------------------------------------------
    @property
    def weights(self) -> list[Weight]:
        return [w for layer in self.layers for w in layer.weights]

    @property
    def losses(self) -> list[Any]:
        """The weights' regularization penalties, as Keras's `model.losses` (a custom training loop adds
        their sum to its loss): recorded on an open GradientTape, else their values."""
        return [on_tensors(w.regularizer)(w) for w in self.weights if w.regularizer is not None]

    @property
    def variables(self) -> list[Weight]:
        return self.weights

    @property
    def trainable_variables(self) -> list[Weight]:
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[Weight]:
        return self.non_trainable_weights

    @property
    def trainable_weights(self) -> list[Weight]:
        return [w for w in self.weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Weight]:
        return [w for w in self.weights if not w.trainable or not self.trainable]

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(f"model {self.name!r} has {len(own)} weight arrays, got {len(weights)}")
        for weight, value in zip(own, weights, strict=True):
            weight.assign(value)

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    # -- saving (graphc.frontend.saving) ----------------------------------------------------
    def save(self, filepath: Any, overwrite: bool = True, include_optimizer: bool = True) -> None:
        saving.save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath: Any, overwrite: bool = True) -> None:
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: Any, by_name: bool = False, skip_mismatch: bool = False) -> None:
        saving.load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch)

    def get_config(self) -> dict[str, Any]:
        return saving.model_config(self)["config"]

    def to_json(self, **kwargs: Any) -> str:
        return saving.model_to_json(self, **kwargs)

    def to_yaml(self, **kwargs: Any) -> str:
        return saving.model_to_yaml(self, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its architecture, weights and compile() arguments (native code and optimizer
        slots stay behind): a copy in another process recompiles, from the disk cache when it can.
        This is how scikit-learn's process pools (n_jobs) receive models."""
        training = saving.training_config(self) if self.compiled else None
        return _unpickle_model, (self.to_json(), self.get_weights(), training)

    # -- display --------------------------------------------------------------------------
    def summary(self, line_length: int | None = None, print_fn: Callable[[str], Any] | None = None) -> None:
        connections = None if self._sequential_like() else self._connections()
        rows = [SummaryRow(layer.name, type(layer).__name__,
                           _output_shape_text(layer.output_shape),
                           layer.count_params() if layer.built else None,
                           None if connections is None else connections.get(id(layer), "-"))
                for layer in self._summary_layers()]
        trainable = sum(int(np.prod(w.shape)) for w in self.trainable_weights)
        total = sum(int(np.prod(w.shape)) for w in self.weights)
        text = format_summary(self.name, rows, trainable, total - trainable,
                              line_length=line_length or default_line_length(connections is None))
        (print_fn or print)(text)

    def _summary_layers(self) -> list[Layer]:
        return self.layers

    def _sequential_like(self) -> bool:
        """Keras prints the three-column table for a chain: one input, each layer fed by the last."""
        previous = self.inputs[0] if len(self.inputs) == 1 else None
        for _, sources, out in self.operations:
            if len(sources) != 1 or sources[0] is not previous:
                return False
            previous = out
        return True

    def _connections(self) -> dict[int, str]:
        """Per layer, its inputs as Keras names them: `layer[node index][tensor index]`."""
        history = keras_history(self.inputs, self.operations)
        cells: dict[int, list[str]] = {}
        listed: set[tuple[str, int]] = set()
        for layer, sources, out in self.operations:
            name, node, _ = history[id(out)]
            if (name, node) in listed:  # another output of a call already listed
                continue
            listed.add((name, node))
            cells.setdefault(id(layer), []).extend(
                "{}[{}][{}]".format(*history[id(source)]) for source in sources)
        return {key: ", ".join(value) for key, value in cells.items()}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, {len(self.layers)} layers>"


class Sequential(Model):
    """A plain stack of layers, built as soon as its input shape is known."""

    def __init__(self, layers: Sequence[Layer] | None = None, name: str | None = None,
                 trainable: bool = True) -> None:
        super().__init__(name=name, trainable=trainable)
        self._stack: list[Layer] = []
        self._names: set[str] = set()
        self._auto_input: InputLayer | None = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer | KerasTensor) -> None:
        if isinstance(layer, KerasTensor):
            layer = layer.layer
        if not isinstance(layer, Layer):
            hint = (": it works on strings, which the compiled model does not take; call it on the texts "
                    "(or in Dataset.map) and start the model at the ids" if hasattr(layer, "adapt") else "")
            raise TypeError(f"Sequential.add expects a Layer, got {type(layer).__name__}{hint}")
        if isinstance(layer, InputLayer) and self._stack:
            raise ValueError("an InputLayer can only be the first layer of a Sequential model")
        if layer.name in self._names:
            raise ValueError(f"all layers of a Sequential model need unique names; {layer.name!r} is "
                             "used twice")
        self._stack.append(layer)
        try:
            if self.outputs and not isinstance(layer, InputLayer):
                self._append(layer)  # one call per add: building n layers stays linear in n
            else:
                self._rebuild()
        except BaseException:
            self._stack.pop()
            self._rebuild()
            raise
        self._names.add(layer.name)

    def _append(self, layer: Layer) -> None:
        tensor = self.outputs[0]
        out = layer(tensor)
        self.operations.append((layer, [tensor], out))
        self.outputs = [out]

    def pop(self) -> Layer:
        if not self.layers:
            raise TypeError("there are no layers in the model")
        layer = self._stack.pop()
        self._names.discard(layer.name)
        self._rebuild()
        return layer

    @property
    def layers(self) -> list[Layer]:
        return [layer for layer in self._stack if not isinstance(layer, InputLayer)]

    def _declared_input(self) -> InputLayer | None:
        if not self._stack:
            return None
        first = self._stack[0]
        if isinstance(first, InputLayer):
            return first
        declared = first._batch_input_shape
        if declared is not None:
            auto = self._auto_input
            if (auto is None or auto.batch_shape != declared
                    or auto.fixed_batch_size != first.declared_batch_size):
                self._auto_input = InputLayer(batch_shape=(first.declared_batch_size, *declared[1:]),
                                              name=f"{first.name}_input")
            return self._auto_input
        return None

    def _rebuild(self, input_layer: InputLayer | None = None) -> None:
        input_layer = input_layer or self._declared_input()
        if input_layer is None:
            self.inputs, self.outputs, self.operations = [], [], []
            return
        tensor = input_layer.output
        operations: list[Operation] = []
        for layer in self._stack:
            if layer is input_layer or isinstance(layer, InputLayer):
                continue
            out = layer(tensor)
            operations.append((layer, [tensor], out))
            tensor = out
        self.inputs, self.outputs, self.operations = [input_layer.output], [tensor], operations

    def build_for_input(self, sample_shape: tuple[int, ...]) -> None:
        if not self.built:
            if not self._stack:
                raise ValueError(f"model {self.name!r} has no layers")
            self._rebuild(InputLayer(shape=tuple(sample_shape), name=f"{self._stack[0].name}_input"))
            return
        super().build_for_input(sample_shape)

    def _summary_layers(self) -> list[Layer]:
        return self.layers


def _as_list(value: KerasTensor | Sequence[KerasTensor] | None, what: str) -> list[KerasTensor]:
    items = [value] if isinstance(value, KerasTensor) else list(value or [])
    for item in items:
        if not isinstance(item, KerasTensor):
            raise TypeError(f"Model `{what}` must be symbolic tensors from Input() and layer calls, "
                            f"got {type(item).__name__}")
    return items


def _output_shape_text(shape: Any) -> str:
    """A layer's output shape in the summary; a list of shapes for a call with several outputs."""
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(tuple(each)) for each in shape) + "]"
    return format_shape(shape)


def _trace(inputs: list[KerasTensor], outputs: list[KerasTensor]) -> list[Operation]:
    """Layer calls between inputs and outputs in an order where producers come first.

    An explicit stack, not recursion: a model thousands of layers deep is an ordinary input.
    """
    order: list[Operation] = []
    seen: set[int] = {id(t) for t in inputs}
    for out in outputs:
        stack = [(out, False)]
        while stack:
            tensor, sources_done = stack.pop()
            if id(tensor) in seen:
                continue
            if sources_done:
                seen.add(id(tensor))
                order.append((tensor.layer, list(tensor.inputs), tensor))
                continue
            if not tensor.inputs:
                raise ValueError(f"output depends on {tensor!r}, which is not among the model inputs")
            stack.append((tensor, True))
            stack.extend((source, False) for source in reversed(tensor.inputs))
    return order


saving.register_model_class("Functional", Model)
saving.register_model_class("Sequential", Sequential)


def _unpickle_model(config: str, weights: list[np.ndarray], training: dict[str, Any] | None) -> Model:
    model = saving.model_from_json(config)
    if weights:
        model.set_weights(weights)
    if training is not None:
        saving.compile_from(model, training)
    return model
