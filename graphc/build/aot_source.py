"""What an ahead-of-time build compiles: a model's programs and the states they share.

The one place where AOT compilation meets the Keras frontend; the rest of aot_* sees only
graphs, arrays and names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.build.programs import model_programs
from graphc.frontend.layers.base import STATE_ROWS
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
    stateful_batch: int = 0  # > 0: a stateful model's batch size (its carried states' rows), the only one
    carried: list[str] = field(default_factory=list)  # the states predict writes: stateful layers' h (and c)

    @property
    def params(self) -> list[StateInfo]:
        return [s for s in self.states if s.value is not None]

    @property
    def states_by_name(self) -> dict[str, StateInfo]:
        return {s.name: s for s in self.states}


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
    result.carried, result.stateful_batch = _carried_states(model, graphs["predict"])
    if with_training:
        train = graphs["train_step"]
        hp = model.optimizer.hyperparameters
        result.hyperparameters = {name: hyperparameter_value(hp, key) for name, key
                                  in program_set.hyperparameter_inputs.items() if name in train.inputs}
        result.logs = [name for name in train.outputs if name == LOSS or name.startswith(METRIC_PREFIX)]
    return result


def _carried_states(model: Model, predict: Graph) -> tuple[list[str], int]:
    """(the states a stateful model carries from call to call, its batch size).

    They are the states the predict program writes (only stateful recurrent layers' h and c
    change at inference), each of shape (batch size, width): row i is read and written by
    sample i through the `state_rows` input, so every call takes exactly that batch size.
    ([], 0) for a model without them."""
    carried = list(predict.updates)
    if not carried:
        return [], 0
    found = {name: (predict.states[name].type.dtype, tuple(predict.states[name].shape)) for name in carried}
    first = found[carried[0]][1]
    batch = first[0] if len(first) == 2 else 0
    wrong = {name: f for name, f in found.items() if f[0] != "float32" or len(f[1]) != 2 or f[1][0] != batch}
    if wrong or not batch or STATE_ROWS not in predict.inputs:
        raise ValueError(f"graphc compile: model {model.name!r} writes states at inference that are not the "
                         f"(batch size, width) float32 states of stateful recurrent layers, read through "
                         f"{STATE_ROWS!r}: {wrong or found}")
    return carried, batch


def _input_id_limit(model: Model) -> int:
    """The smallest id bound of the layers that read the model input as ids, 0 when none does."""
    source = model.inputs[0]
    limits = [limit for layer, sources, _ in model.operations
              if not layer.takes_list and sources[0] is source and (limit := layer.input_id_limit())]
    return min(limits, default=0)

