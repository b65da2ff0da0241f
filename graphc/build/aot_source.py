"""What an ahead-of-time build compiles: a model's programs and the states they share.

The one place where AOT compilation meets the Keras frontend; the rest of aot_* sees only
graphs, arrays and names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.build.programs import model_programs
from graphc.frontend.models import Model
from graphc.frontend.optimizers.step import hyperparameter_value
from graphc.frontend.programs import LOSS, METRIC_PREFIX
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
    input_id_limit: int = 0  # > 0: the input is token ids, whole numbers in [0, input_id_limit)

    @property
    def params(self) -> list[StateInfo]:
        return [s for s in self.states if s.value is not None]


def aot_programs(model: Model, with_training: bool) -> ModelPrograms:
    """The predict program (and train step) a deployment runs, with every state's initial value."""
    program_set = model_programs(model, with_training=with_training, caller="compile_model")
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
    result = ModelPrograms(graphs, states, input_id_limit=_input_id_limit(model))
    if with_training:
        train = graphs["train_step"]
        hp = model.optimizer.hyperparameters
        result.hyperparameters = {name: hyperparameter_value(hp, key) for name, key
                                  in program_set.hyperparameter_inputs.items() if name in train.inputs}
        result.logs = [name for name in train.outputs if name == LOSS or name.startswith(METRIC_PREFIX)]
    return result


def _input_id_limit(model: Model) -> int:
    """The smallest id bound of the layers that read the model input as ids, 0 when none does."""
    source = model.inputs[0]
    limits = [limit for layer, sources, _ in model.operations
              if not layer.takes_list and sources[0] is source and (limit := layer.input_id_limit())]
    return min(limits, default=0)

