"""Model architecture as JSON: Keras 3 form written; Keras 3, tf.keras and Keras 2.2.4 forms read.

Reading builds layers only from graphc's own class table (plus layer classes the calling code
passes as custom_objects), with plain JSON values as arguments: nothing named in a file is imported
or executed.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from graphc.frontend.layers import LAYER_CLASSES, InputLayer, KerasTensor, Layer
from graphc.frontend.layers.base import keras_history
from graphc.frontend.layers.config_kwargs import layer_kwargs
from graphc.frontend.layers.custom_objects import CUSTOM_FUNCTIONS, CUSTOM_LAYERS
from graphc.frontend.layers.lambda_layer import function_name
from graphc.frontend.layers.model_step import ModelStep, register_model_loader
from graphc.frontend.saving.host import SavableModel

_DTYPE_POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                 "registered_name": None}
_SEQUENTIAL = ("Sequential",)
_FUNCTIONAL = ("Functional", "Model")
# Filled by graphc.frontend.models, which sits above saving: saving builds models without importing them.
MODEL_CLASSES: dict[str, type] = {}


def register_model_class(kind: str, cls: type) -> type:
    """`kind` is "Sequential" or "Functional": the class model_from_config builds for it."""
    MODEL_CLASSES[kind] = cls
    return cls


# -- writing ---------------------------------------------------------------------------------------
def model_config(model: SavableModel) -> dict[str, Any]:
    """{"class_name", "config"} for Sequential or functional models, as Keras 3's serializer writes it."""
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built: give the first layer an input shape (or call "
                         "fit/predict) before saving it")
    if isinstance(model, MODEL_CLASSES["Sequential"]):
        entries = [_layer_entry(model.inputs[0].layer)] + [_layer_entry(layer) for layer in model.layers]
        config = {"name": model.name, "trainable": model.trainable, "dtype": _DTYPE_POLICY, "layers": entries}
        return {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None}
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": _functional_config(model), "registered_name": None}


def _layer_entry(layer: Layer) -> dict[str, Any]:
    config = layer.get_config()
    if not isinstance(layer, InputLayer):
        config.pop("batch_input_shape", None)
    entry = {"module": "keras.layers", "class_name": type(layer).__name__, "config": config,
             "registered_name": None}
    if layer.input_shape is not None and not isinstance(layer, InputLayer):
        entry["build_config"] = {"input_shape": list(layer.input_shape)}
    return entry


def _functional_config(model: SavableModel) -> dict[str, Any]:
    history = keras_history(model.inputs, model.operations)
    entries: dict[str, dict[str, Any]] = {}
    for tensor in model.inputs:
        layer = tensor.layer
        entries[layer.name] = {**_layer_entry(layer), "name": layer.name, "inbound_nodes": []}
    written: set[tuple[str, int]] = set()
    for layer, sources, out in model.operations:
        fresh = {**_layer_entry(layer), "name": layer.name, "inbound_nodes": []}
        entry = entries.setdefault(layer.name, fresh)
        name, node, _ = history[id(out)]
        if (name, node) not in written:  # one node per call, whatever its number of outputs
            written.add((name, node))
            entry["inbound_nodes"].append(layer.call_arguments([_tensor_ref(t, history) for t in sources]))
    return {"name": model.name, "trainable": model.trainable, "layers": list(entries.values()),
            "input_layers": [list(history[id(t)]) for t in model.inputs],
            "output_layers": [list(history[id(t)]) for t in model.outputs]}


def _tensor_ref(tensor: KerasTensor, history: dict[int, tuple[str, int, int]]) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(tensor.shape), "dtype": "float32",
                       "keras_history": list(history[id(tensor)])}}


def model_to_json(model: SavableModel, **kwargs: Any) -> str:
    return json.dumps(model_config(model), **kwargs)


def model_to_yaml(model: SavableModel, **kwargs: Any) -> str:
    """The JSON config as YAML (Keras 2's `to_yaml`): plain mappings, lists and scalars only."""
    plain = json.loads(model_to_json(model))  # tuples become lists, as in the JSON form
    return yaml.safe_dump(plain, sort_keys=False, **kwargs)


# -- reading ---------------------------------------------------------------------------------------
def model_from_json(json_string: str | bytes, custom_objects: dict[str, Any] | None = None) -> SavableModel:
    try:
        config = json.loads(json_string)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"model_from_json: not valid JSON ({err})") from None
    return model_from_config(config, custom_objects)


def model_from_yaml(yaml_string: str | bytes, custom_objects: dict[str, Any] | None = None) -> SavableModel:
    """Keras 2 removed this for the risk of code in YAML; graphc reads YAML with the safe loader
    only, so a file's `!!python/...` tags are refused instead of run."""
    try:
        config = yaml.safe_load(yaml_string)
    except yaml.YAMLError as err:
        raise ValueError(f"model_from_yaml: not valid YAML, or a tag that would run code ({err})") from None
    return model_from_config(config, custom_objects)


@contextlib.contextmanager
def custom_object_scope(custom_objects: Mapping[str, Any] | None) -> Iterator[None]:
    """Layer classes given by the calling code (never by the file) that configs may name, as
    Keras's `custom_objects=` and `keras.utils.custom_object_scope`; entries that are not layer
    classes (custom losses, activations) are left to the code that uses them."""
    layers = {name: cls for name, cls in (custom_objects or {}).items()
              if isinstance(cls, type) and issubclass(cls, Layer)}
    functions = {name: fn for name, fn in (custom_objects or {}).items()
                 if callable(fn) and not isinstance(fn, type)}
    token = CUSTOM_LAYERS.set({**CUSTOM_LAYERS.get(), **layers})
    function_token = CUSTOM_FUNCTIONS.set({**CUSTOM_FUNCTIONS.get(), **functions})
    try:
        yield
    finally:
        CUSTOM_LAYERS.reset(token)
        CUSTOM_FUNCTIONS.reset(function_token)


def _layer_classes() -> Mapping[str, type[Layer]]:
    return {**LAYER_CLASSES, **CUSTOM_LAYERS.get()}


def model_from_config(config: Any, custom_objects: Mapping[str, Any] | None = None) -> SavableModel:
    """A model from {"class_name": "Sequential" | "Functional" | "Model", "config": ...}."""
    with custom_object_scope(custom_objects):
        return _model_from_config(config)


def _model_from_config(config: Any) -> SavableModel:
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a model config is a dict with 'class_name' and 'config', got {_short(config)}")
    class_name = config["class_name"]
    body = config.get("config")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Keras 2 argument names in old files
        if class_name in _SEQUENTIAL:
            model = _sequential(body, MODEL_CLASSES["Sequential"])
        elif class_name in _FUNCTIONAL:
            model = _functional(body, MODEL_CLASSES["Functional"])
        else:
            raise ValueError(f"unknown model class {class_name!r}: graphc reads Sequential and Functional "
                             "models")
    _separate_nested_weights(model)
    return model


register_model_loader(_model_from_config)  # TimeDistributed(model) configs, read by the same rules


def _separate_nested_weights(model: SavableModel) -> None:
    """A wrapped model's layers may reuse the names of the model's own (Keras names variables without
    making paths unique), but graphc keys weights by path: such a nested weight moves under its
    wrapper's name. Only colliding ones move, so a model graphc saved reloads with the same paths
    (the optimizer state of .h5 files is saved by them)."""
    nested = [layer for layer in model.layers if isinstance(getattr(layer, "step", None), ModelStep)]
    wrappers = {id(layer) for layer in nested}
    taken = {w.path for layer in model.layers if id(layer) not in wrappers for w in layer.weights}
    for layer in nested:
        for weight in layer.weights:
            if weight.path in taken:
                weight.path = f"{layer.name}/{weight.path}"
            taken.add(weight.path)


def _sequential(body: Any, cls: type) -> SavableModel:
    if isinstance(body, list):  # Keras <= 2.2.2: a bare list of layers
        name, entries = None, body
    elif isinstance(body, dict) and isinstance(body.get("layers"), list):
        name, entries = body.get("name"), body["layers"]
    else:
        raise ValueError(f"Sequential config needs a 'layers' list, got {_short(body)}")
    _check_layer_classes(entries)
    model = cls(name=name)
    for entry in entries:
        model.add(layer_from_config(entry))
    shape = body.get("build_input_shape") if isinstance(body, dict) else None
    if not model.built and entries and isinstance(shape, list) and len(shape) > 1 \
            and all(isinstance(d, int) and d > 0 for d in shape[1:]):
        model.build_for_input(tuple(shape[1:]))  # built in Keras without an Input: the shape it was built on
    return model


def _functional(body: Any, cls: type) -> SavableModel:
    if not isinstance(body, dict) or not isinstance(body.get("layers"), list):
        raise ValueError(f"Functional config needs a 'layers' list, got {_short(body)}")
    _check_layer_classes(body["layers"])
    tensors: dict[tuple[str, int, int], KerasTensor] = {}
    for entry in body["layers"]:
        layer = layer_from_config(entry)
        name = entry.get("name", layer.name)
        if isinstance(layer, InputLayer):
            tensors[(name, 0, 0)] = layer.output
            continue
        for index, node in enumerate(entry.get("inbound_nodes") or []):
            sources = _node_sources(node, name)
            if len(sources) != 1 and not layer.takes_list_in(len(sources)):
                raise ValueError(f"layer {name!r} takes one input, the config gives {len(sources)}")
            for source in sources:
                if source not in tensors:
                    raise ValueError(f"layer {name!r} takes the output of {source}, which is not defined "
                                     "before it")
            result = layer.call_on([tensors[source] for source in sources])
            for position, tensor in enumerate(result if isinstance(result, list) else [result]):
                tensors[(name, index, position)] = tensor
    inputs = [_lookup(tensors, ref, "input_layers") for ref in _refs(body.get("input_layers"))]
    outputs = [_lookup(tensors, ref, "output_layers") for ref in _refs(body.get("output_layers"))]
    return cls(inputs, outputs, name=body.get("name"))


def _node_sources(node: Any, layer: str) -> list[tuple[str, int, int]]:
    """The (layer, node index, tensor index) each input of one call comes from, in Keras 3's and
    Keras 2's node forms; an RNN's initial states (Keras 3's `initial_state` kwarg) come after x."""
    if isinstance(node, dict):  # Keras 3: {"args": [keras tensor...], "kwargs": {}}; a merge: [[...]]
        args = node.get("args") or []
        if len(args) == 1 and isinstance(args[0], list):
            args = args[0]
        states = (node.get("kwargs") or {}).get("initial_state") or []
        args = [*args, *(states if isinstance(states, list) else [states])]
        refs = [a.get("config", {}).get("keras_history") for a in args if isinstance(a, dict)]
    elif isinstance(node, list):  # Keras 2: [[layer, node, tensor, kwargs], ...]
        refs = node
    else:
        refs = []
    sources = []
    for ref in refs:
        if not isinstance(ref, list) or len(ref) < 2 or not isinstance(ref[0], str):
            raise ValueError(f"layer {layer!r}: cannot read inbound node {_short(node)}")
        sources.append((ref[0], int(ref[1]), int(ref[2]) if len(ref) > 2 and isinstance(ref[2], int) else 0))
    if not sources:
        raise ValueError(f"layer {layer!r}: inbound node {_short(node)} names no input")
    return sources


def _refs(value: Any) -> list[list[Any]]:
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [value]  # Keras 3 writes a single input as one flat [name, node, tensor]
    if not isinstance(value, list) or not value:
        raise ValueError(f"a functional config needs input_layers and output_layers, got {_short(value)}")
    return value


def _lookup(tensors: dict[tuple[str, int, int], KerasTensor], ref: list[Any], what: str) -> KerasTensor:
    key = (ref[0], int(ref[1]), int(ref[2]) if len(ref) > 2 else 0)
    if key not in tensors:
        raise ValueError(f"{what} names {ref[0]!r} (node {ref[1]}, tensor {key[2]}), which the config does "
                         "not define")
    return tensors[key]


def _check_layer_classes(entries: list[Any]) -> None:
    """Name every unsupported class and the layers using it at once, not one per attempt."""
    unknown: dict[str, list[str]] = {}
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("class_name"), str) \
                and entry["class_name"] not in _layer_classes():
            config = entry.get("config")
            name = config.get("name") if isinstance(config, dict) else None
            unknown.setdefault(entry["class_name"], []).append(repr(name or entry.get("name") or "?"))
    if unknown:
        found = "; ".join(f"{cls!r} (layer{'s' if len(names) > 1 else ''} {', '.join(names)})"
                          for cls, names in unknown.items())
        raise ValueError(f"unknown layer class{'es' if len(unknown) > 1 else ''} in the model config, not "
                         f"supported by graphc yet: {found}. graphc can load {sorted(_layer_classes())} "
                         "(custom layer classes load when given in custom_objects=)")


def layer_from_config(entry: Any) -> Layer:
    """One layer from {"class_name", "config"}, only from graphc's layer table."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ValueError(f"a layer config is a dict with a 'class_name' string, got {_short(entry)}")
    class_name = entry["class_name"]
    cls = _layer_classes().get(class_name)
    if cls is None:
        raise ValueError(f"unknown layer class {class_name!r} in the model config; graphc can load "
                         f"{sorted(_layer_classes())}")
    config = entry.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"layer {class_name}: 'config' must be a dict, got {_short(config)}")
    kwargs = layer_kwargs(class_name, config)
    if class_name == "Lambda":
        kwargs["function"] = _lambda_function(config)
        kwargs.pop("function_type", None)
        kwargs.pop("output_shape_type", None)
        kwargs.pop("module", None)
        kwargs.pop("output_shape_module", None)
    try:
        return cls.from_config(kwargs)
    except TypeError as err:
        raise ValueError(f"layer {class_name} {config.get('name')!r}: bad config ({err})") from None


def _lambda_function(config: dict[str, Any]) -> Any:
    """A Lambda's function, from custom_objects by the name the file gives: a model file is data,
    so the Python bytecode Keras stores for a `lambda` is never run."""
    name = function_name(config.get("function"))
    layer = config.get("name")
    if name is None or name == "<lambda>":
        raise ValueError(f"layer Lambda {layer!r}: the file holds its function as Python bytecode, which "
                         "graphc never runs (a model file is data); rebuild this layer in code, or define "
                         "the function with def and pass it as custom_objects={name: function}")
    function = CUSTOM_FUNCTIONS.get().get(name)
    if function is None:
        raise ValueError(f"layer Lambda {layer!r} calls a function named {name!r}: pass it as "
                         f"custom_objects={{{name!r}: {name}}} (graphc never imports code a file names)")
    return function




def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
