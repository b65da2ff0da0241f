"""Recording a model's predict, train and eval programs as graphs.

The frontend's half of whole-step compilation: a training step is one graph holding the
forward pass, the loss, the backward pass, the optimizer update and the metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from graphc.frontend.layers.base import RNG_STATE, CallContext, KerasTensor, Layer, Weight
from graphc.frontend.seeding import global_rng
from graphc.ir.graph import Graph, Node
from graphc.ir.types import Dim, TensorType
from graphc.ops import builders as b
from graphc.passes import DEFAULT_LEVEL, Instrument, PipelineResult, VerifyEach, run_pipeline
from graphc.passes.autodiff import gradients


class RecordableModel(Protocol):
    """What recording needs of a model: its layer graph and weights (a frontend Model has them),
    so recording depends on the layers only, not on the model classes above it."""

    name: str
    inputs: list[KerasTensor]
    outputs: list[KerasTensor]
    operations: list[tuple[Layer, list[KerasTensor], KerasTensor]]

    @property
    def weights(self) -> list[Weight]: ...


PREDICTION = "y_pred"
LOSS = "loss"
LABELS = "y"
METRIC_PREFIX = "metric/"


@dataclass
class LossSpec:
    """What compile() resolved: the loss, the metrics, and the label shape the graphs take."""

    loss: Any
    metrics: list[Any]
    label_shape: tuple[Dim, ...]


@dataclass
class ProgramSet:
    """`recorded` are the programs as traced; `graphs` the same after the pipeline of `level`.

    A program's pipeline runs on first access to it, so a compile served from the cache of
    recorded programs (codegen/recorded.py) never pays for it, and compiling one program does
    not optimize the others.
    """

    recorded: dict[str, Graph]
    initial_values: dict[str, float | int] = field(default_factory=dict)
    hyperparameter_inputs: dict[str, str] = field(default_factory=dict)
    level: int | str = DEFAULT_LEVEL
    instruments: Sequence[Instrument] = (VerifyEach(),)
    _pipelines: dict[str, PipelineResult] = field(default_factory=dict, repr=False)

    def pipeline(self, name: str) -> PipelineResult:
        result = self._pipelines.get(name)
        if result is None:
            result = run_pipeline(self.recorded[name], self.level, instruments=self.instruments)
            self._pipelines[name] = result
        return result

    @property
    def pipelines(self) -> dict[str, PipelineResult]:
        return {name: self.pipeline(name) for name in self.recorded}

    @property
    def graphs(self) -> dict[str, Graph]:
        return {name: result.graph for name, result in self.pipelines.items()}


def input_name(index: int, count: int) -> str:
    return "x" if count == 1 else f"x{index}"


def record_forward(model: RecordableModel, graph: Graph, training: bool) -> Node:
    """Declare the model inputs in `graph` and append the forward pass; returns the prediction."""
    ctx = CallContext(graph, training)
    inputs = model.inputs
    values = {}
    for index, tensor in enumerate(inputs):
        values[id(tensor)] = graph.input(input_name(index, len(inputs)), TensorType(tensor.shape))
    for layer, in_tensors, out_tensor in model.operations:
        (source,) = in_tensors
        values[id(out_tensor)] = layer.record(values[id(source)], ctx)
    return values[id(model.outputs[0])]


def predict_graph(model: RecordableModel) -> Graph:
    graph = Graph(f"{model.name}/predict")
    graph.outputs[PREDICTION] = record_forward(model, graph, training=False)
    return graph


def _loss_and_metrics(model: RecordableModel, graph: Graph, spec: LossSpec, training: bool) -> Node:
    y_pred = record_forward(model, graph, training)
    with graph.scope(role="loss"):
        y_true = graph.input(LABELS, TensorType(spec.label_shape))
        loss = spec.loss(y_true, y_pred)
        for weight in model.weights:
            if weight.regularizer is not None:
                with graph.scope(layer=weight.path.split("/")[0]):
                    loss = loss + weight.regularizer(graph.states[weight.path])
        graph.outputs[LOSS] = loss
    with graph.scope(role="metric"):
        for metric in spec.metrics:
            graph.outputs[METRIC_PREFIX + metric.name] = b.reduce_mean(metric(y_true, y_pred))
    return loss


def eval_graph(model: RecordableModel, spec: LossSpec) -> Graph:
    graph = Graph(f"{model.name}/eval")
    _loss_and_metrics(model, graph, spec, training=False)
    return graph


def train_graph(model: RecordableModel, spec: LossSpec, optimizer: Any) -> tuple[Graph, Any]:
    graph = Graph(f"{model.name}/train")
    loss = _loss_and_metrics(model, graph, spec, training=True)
    trainable = [w for w in model.weights if w.trainable]
    params = [graph.states[w.path] for w in trainable if w.path in graph.states]
    grads = gradients(loss, params)
    with graph.scope(role="update"):
        plan = optimizer.build(graph, [(p.attrs["name"], p, g) for p, g in zip(params, grads, strict=True)])
        graph.updates.update(plan.updates)
        for weight in trainable:  # after the update, never at initialisation (Keras's rule)
            if weight.constraint is not None and weight.path in graph.updates:
                graph.updates[weight.path] = weight.constraint(graph.updates[weight.path])
        if RNG_STATE in graph.states:
            graph.updates[RNG_STATE] = graph.states[RNG_STATE] + 1
    return graph, plan


def build_programs(
    model: RecordableModel, spec: LossSpec | None, optimizer: Any, level: int | str = DEFAULT_LEVEL,
    instruments: Sequence[Instrument] = (VerifyEach(),),
) -> ProgramSet:
    """Record the model's programs; the pipeline of `level` (O0..O3) runs on each when first needed."""
    recorded = {"predict": predict_graph(model)}
    initial: dict[str, float | int] = {}
    hyperparameters: dict[str, str] = {}
    if spec is not None:
        recorded["eval_step"] = eval_graph(model, spec)
        recorded["train_step"], plan = train_graph(model, spec, optimizer)
        initial = dict(plan.initial_values)
        initial[RNG_STATE] = int(global_rng().integers(0, 2**62))  # far from wrapping in any run
        hyperparameters = dict(plan.hyperparameter_inputs)
    return ProgramSet(recorded, initial, hyperparameters, level, tuple(instruments))
