"""What an ahead-of-time build compiles: the model (object, .h5 file or Python file) and its programs.

The one place where AOT compilation meets the Keras frontend; the rest of aot_* sees only
graphs, arrays and names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from graphc.export.loader import load_model, split_target
from graphc.frontend import losses as losses_mod
from graphc.frontend.models import Model
from graphc.frontend.programs import LOSS, METRIC_PREFIX, build_programs
from graphc.ir.graph import Graph


@dataclass
class StateInfo:
    """One persistent buffer: a model parameter (initial value from the model) or another state."""

    name: str
    shape: tuple[int, ...]
    value: np.ndarray | None = None  # parameters only
    fill: float | int = 0.0  # the initial value of every element of a non-parameter state
    dtype: str = "float32"  # step counters are int64


@dataclass
class ModelPrograms:
    graphs: dict[str, Graph]  # "predict" and, for training, "train_step"
    states: list[StateInfo]  # parameters first, in model.weights order
    hyperparameters: dict[str, float] = field(default_factory=dict)  # train_step input -> initial value
    logs: list[str] = field(default_factory=list)  # train_step outputs: loss, metric/...

    @property
    def params(self) -> list[StateInfo]:
        return [s for s in self.states if s.value is not None]


def resolve_model(source: Model | str | os.PathLike[str]) -> Model:
    """A Model as is, else what `graphc inspect` loads from the same argument: a saved .h5 model or a
    Python file (`file.py` or `file.py:function`) that builds one (export/loader.py)."""
    if isinstance(source, Model):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"compile_model: expected a Model or a file path, got {type(source).__name__}")
    path, function = split_target(os.fspath(source))
    return load_model(path, function)


def model_programs(model: Model, with_training: bool) -> ModelPrograms:
    if not model.built:
        raise ValueError(f"compile_model: model {model.name!r} has no input shape; give its first layer "
                         "input_shape=... (or call fit/predict once) before compiling it")
    if with_training and not model.compiled:
        raise ValueError(f"compile_model: with_training needs a compiled model (model.compile(optimizer, "
                         f"loss, metrics)); {model.name!r} is not compiled")
    spec = None
    if with_training:
        spec = model._spec or model._resolve_spec(_label_data_shape(model))
    program_set = build_programs(model, spec, model.optimizer if with_training else None)
    graphs = {"predict": program_set.graphs["predict"]}
    if with_training:
        graphs["train_step"] = program_set.graphs["train_step"]
    params = [StateInfo(w.path, w.shape, w.numpy()) for w in model.weights]
    known = {p.name for p in params}
    states = list(params)
    for graph in graphs.values():
        for name, node in graph.states.items():
            if name not in known:
                known.add(name)
                fill = program_set.initial_values.get(name, 0)
                states.append(StateInfo(name, tuple(node.shape), None, fill, node.type.dtype))
    used = {name for graph in graphs.values() for name in graph.states}
    states = [s for s in states if s.name in used]
    result = ModelPrograms(graphs, states)
    if with_training:
        train = graphs["train_step"]
        hp = model.optimizer.hyperparameters
        result.hyperparameters = {name: float(hp.get(key, 0.0)) for name, key
                                  in program_set.hyperparameter_inputs.items() if name in train.inputs}
        result.logs = [name for name in train.outputs if name == LOSS or name.startswith(METRIC_PREFIX)]
    return result


def _label_data_shape(model: Model) -> tuple[int | None, ...]:
    """The labels fit() last saw, else class indices for sparse losses and the prediction shape otherwise."""
    if model._label_data_shape is not None:
        return model._label_data_shape
    loss = model.loss if isinstance(model.loss, str) else losses_mod.get(model.loss).name
    return (None, 1) if "sparse" in loss else tuple(model.output_shape)

