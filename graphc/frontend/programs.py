"""Recording a model's predict, train and eval programs as graphs.

The frontend's half of whole-step compilation: a training step is one graph holding the
forward pass, the loss, the backward pass, the optimizer update and the metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from graphc.frontend.confusion_metrics import ConfusionMetric
from graphc.frontend.layers.base import RNG_STATE, CallContext, KerasTensor, Layer, Weight
from graphc.frontend.seeding import global_rng
from graphc.ir.graph import Graph, Node
from graphc.ir.types import Dim, TensorType
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients
from graphc.passes import DEFAULT_LEVEL, Instrument, PipelineResult, VerifyEach, run_pipeline


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
SAMPLE_WEIGHT = "sample_weight"
WEIGHTED = {"train_step": "train_step_weighted", "eval_step": "eval_step_weighted",
            "grad_step": "grad_step_weighted"}
TRAINING_CALL = "predict_training"  # model(x, training=True)
METRIC_PREFIX = "metric/"
COUNT_PREFIX = "count/"  # per-batch counts fit adds up: confusion counts, weighted means' sums


@dataclass
class LossSpec:
    """What compile() resolved: the loss, the metrics, the label shape the graphs take, and the
    weighted metrics (counted with the sample weights: confusion metrics or metrics.WeightedMean)."""

    loss: Any
    metrics: list[Any]
    label_shape: tuple[Dim, ...]
    weighted_metrics: list[Any] = field(default_factory=list)


@dataclass
class MultiLossSpec:
    """A model with several outputs: one LossSpec per output (metrics already named
    `<output>_<metric>`, Keras's log names), the outputs' names and the loss weights. The batch
    loss is the weighted sum; each output's own loss is logged as `<output>_loss`."""

    specs: list[LossSpec]
    names: list[str]
    weights: list[float]

    @property
    def label_shape(self) -> tuple[Any, ...]:
        """(None, one label sample shape per output): what ModelInputs.shape gives for the labels."""
        return (None, *(tuple(spec.label_shape[1:]) for spec in self.specs))

    @property
    def metrics(self) -> list[Any]:
        return [metric for spec in self.specs for metric in spec.metrics]

    @property
    def weighted_metrics(self) -> list[Any]:
        return [metric for spec in self.specs for metric in spec.weighted_metrics]


def label_name(index: int, count: int) -> str:
    return LABELS if count == 1 else f"{LABELS}{index}"


def sample_weight_name(index: int, count: int) -> str:
    """The weighted programs' input of output `index`'s sample weights."""
    return SAMPLE_WEIGHT if count == 1 else f"{SAMPLE_WEIGHT}{index}"


def prediction_name(index: int, count: int) -> str:
    return PREDICTION if count == 1 else f"{PREDICTION}{index}"


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
    # Programs recorded only when first asked for (the sample-weighted steps): same states as the others.
    deferred: dict[str, Callable[[], Graph]] = field(default_factory=dict, repr=False)
    _pipelines: dict[str, PipelineResult] = field(default_factory=dict, repr=False)

    def has(self, name: str) -> bool:
        return name in self.recorded or name in self.deferred

    def program(self, name: str) -> Graph:
        """The recorded program `name`, recording a deferred one now."""
        if name not in self.recorded and name in self.deferred:
            self.recorded[name] = self.deferred.pop(name)()
        return self.recorded[name]

    def pipeline(self, name: str) -> PipelineResult:
        result = self._pipelines.get(name)
        if result is None:
            result = run_pipeline(self.program(name), self.level, instruments=self.instruments)
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


def declared_batch_size(model: RecordableModel) -> int | None:
    """The batch size the model's inputs declare (Input(batch_shape=...), batch_input_shape=...),
    which sizes stateful layers' carried states; None when none does."""
    sizes = (getattr(tensor.layer, "fixed_batch_size", None) for tensor in model.inputs)
    return next((size for size in sizes if size), None)


def record_forward(model: RecordableModel, graph: Graph, training: bool) -> Node:
    """Declare the model inputs in `graph` and append the forward pass; returns the prediction
    (the first output's, for a model with several: record_outputs gives them all)."""
    return record_outputs(model, graph, training)[0]


def record_outputs(model: RecordableModel, graph: Graph, training: bool, given: Sequence[Node] | None = None,
                   ctx: CallContext | None = None) -> list[Node]:
    """Declare the model inputs in `graph` and append the forward pass; returns every output.

    A GradientTape records several calls into one graph (frontend/recording.py): it passes the
    nodes that feed the model inputs (`given`) and a context of its own (its random seed is an input).
    """
    _check_weight_paths(model)
    inputs = model.inputs
    ctx = ctx or CallContext(graph, training, batch_size=declared_batch_size(model))
    values: dict[int, Node] = {}
    masks: dict[int, Node | None] = {}
    for index, tensor in enumerate(inputs):
        values[id(tensor)] = (given[index] if given is not None
                              else graph.input(input_name(index, len(inputs)), TensorType(tensor.shape)))
        masks[id(tensor)] = None
    calls: dict[int, list[Node]] = {}  # a call with several outputs is recorded once, for all of them
    for layer, in_tensors, out_tensor in model.operations:
        siblings = out_tensor.siblings
        if siblings is not None and id(siblings) in calls:
            values[id(out_tensor)] = calls[id(siblings)][out_tensor.index]
            masks[id(out_tensor)] = None
            continue
        args = [values[id(source)] for source in in_tensors]
        given = [mask for mask in (masks[id(source)] for source in in_tensors) if mask is not None]
        ctx.mask = None if not given else given[0] if len(given) == 1 else _all(given)
        x = args if layer.takes_list_in(len(args)) else args[0]
        result = layer.record(x, ctx)
        if siblings is not None:
            calls[id(siblings)] = result
            result = result[out_tensor.index]
        values[id(out_tensor)] = result
        with graph.scope(layer=layer.name):
            mask = layer.compute_mask(x, ctx.mask)
        masks[id(out_tensor)] = mask if out_tensor.index == 0 else None
    ctx.mask = None
    return [values[id(tensor)] for tensor in model.outputs]


def _check_weight_paths(model: RecordableModel) -> None:
    """Two weights with one path would be one state of the program (silently shared, or a shape error
    deep in the compiler): a layer inside a wrapped model named like a layer outside it does that."""
    seen: dict[str, object] = {}
    for weight in model.weights:
        if seen.setdefault(weight.path, weight) is not weight:
            raise ValueError(f"model {model.name!r}: two weights are named {weight.path!r}: a layer inside a "
                             "wrapped model has the name of another layer of the model; rename one of them")


def _all(masks: list[Node]) -> Node:
    """Merged inputs' masks: a step counts where every input's does (Keras's logical and)."""
    merged = masks[0]
    for mask in masks[1:]:
        merged = merged * mask
    return merged


def predict_graph(model: RecordableModel, training: bool = False) -> Graph:
    """The forward pass; with `training`, as `model(x, training=True)` runs it: dropout draws new
    masks (the random counter advances) and BatchNormalization updates its moving statistics."""
    graph = Graph(f"{model.name}/predict{'_training' if training else ''}")
    outputs = record_outputs(model, graph, training=training)
    for index, output in enumerate(outputs):
        graph.outputs[prediction_name(index, len(outputs))] = output
    if training and RNG_STATE in graph.states:
        graph.updates[RNG_STATE] = graph.states[RNG_STATE] + 1
    return graph


def _loss_and_metrics(model: RecordableModel, graph: Graph, spec: LossSpec | MultiLossSpec, training: bool,
                      weighted: bool = False) -> Node:
    predictions = record_outputs(model, graph, training)
    specs = spec.specs if isinstance(spec, MultiLossSpec) else [spec]
    labels = []
    with graph.scope(role="loss"):
        sample_weights = [graph.input(sample_weight_name(index, len(specs)), TensorType((None,))) if weighted
                          else None for index in range(len(specs))]
        loss = None
        for index, (output_spec, y_pred) in enumerate(zip(specs, predictions, strict=True)):
            y_true = graph.input(label_name(index, len(specs)), TensorType(output_spec.label_shape))
            labels.append(y_true)
            if sample_weights[index] is not None:
                term = output_spec.loss.weighted(y_true, y_pred, sample_weights[index])
            else:
                term = output_spec.loss(y_true, y_pred)
            if isinstance(spec, MultiLossSpec):
                graph.outputs[f"{METRIC_PREFIX}{spec.names[index]}_loss"] = term
                if spec.weights[index] != 1.0:
                    term = term * spec.weights[index]
            loss = term if loss is None else loss + term
        for weight in model.weights:
            if weight.regularizer is not None:
                with graph.scope(layer=weight.path.split("/")[0]):
                    loss = loss + weight.regularizer(graph.states[weight.path])
        graph.outputs[LOSS] = loss
    with graph.scope(role="metric"):
        outputs = zip(specs, labels, predictions, sample_weights, strict=True)
        for output_spec, y_true, y_pred, weights in outputs:
            for metric in output_spec.metrics:
                if isinstance(metric, ConfusionMetric):
                    for key, count in metric.count_nodes(y_true, y_pred).items():
                        graph.outputs[f"{COUNT_PREFIX}{metric.name}/{key}"] = count
                else:
                    graph.outputs[METRIC_PREFIX + metric.name] = b.reduce_mean(metric(y_true, y_pred))
            for metric in output_spec.weighted_metrics:  # sums fit adds up: weighted means are ratios
                for key, count in metric.count_nodes(y_true, y_pred, weights).items():
                    graph.outputs[f"{COUNT_PREFIX}{metric.name}/{key}"] = count
    return loss


def eval_graph(model: RecordableModel, spec: LossSpec, weighted: bool = False) -> Graph:
    graph = Graph(f"{model.name}/eval{'_weighted' if weighted else ''}")
    _loss_and_metrics(model, graph, spec, training=False, weighted=weighted)
    return graph


GRADIENT_PREFIX = "grad/"
# Data-parallel training splits the step where the gradients are summed across processes.
GRADIENT_STEP = "grad_step"
APPLY_STEP = "apply_step"


def gradient_graph(model: RecordableModel, spec: LossSpec | MultiLossSpec, weighted: bool = False) -> Graph:
    """The training step up to the gradients, which it returns as `grad/<weight path>` outputs
    (the weights the loss depends on): the first half of a data-parallel step. Batch statistics
    and the dropout counter advance here, as in the whole step."""
    graph = Graph(f"{model.name}/{GRADIENT_STEP}{'_weighted' if weighted else ''}")
    loss = _loss_and_metrics(model, graph, spec, training=True, weighted=weighted)
    params = [graph.states[w.path] for w in model.weights if w.trainable and w.path in graph.states]
    for param, grad in zip(params, gradients(loss, params), strict=True):
        graph.outputs[GRADIENT_PREFIX + param.attrs["name"]] = grad
    if RNG_STATE in graph.states:
        graph.updates[RNG_STATE] = graph.states[RNG_STATE] + 1
    return graph


def apply_graph(model: RecordableModel, optimizer: Any, paths: Sequence[str]) -> tuple[Graph, Any]:
    """The optimizer update of the weights at `paths` from gradients fed as `grad/<path>` inputs
    (summed across processes by then), then the constraints: the second half of a data-parallel step,
    and `optimizer.apply_gradients`. Returns the graph and the optimizer's UpdatePlan."""
    graph = Graph(f"{model.name}/{APPLY_STEP}")
    by_path = {w.path: w for w in model.weights}
    with graph.scope(role="update"):
        params = []
        for path in paths:
            weight = by_path[path]
            param = graph.state(path, TensorType(weight.shape), trainable=True)
            params.append((path, param, graph.input(GRADIENT_PREFIX + path, TensorType(weight.shape))))
        plan = optimizer.build(graph, params)
        graph.updates.update(plan.updates)
        for path in paths:
            constraint = by_path[path].constraint
            if constraint is not None and path in graph.updates:
                graph.updates[path] = constraint(graph.updates[path])
    return graph, plan


def train_graph(model: RecordableModel, spec: LossSpec, optimizer: Any,
                weighted: bool = False) -> tuple[Graph, Any]:
    graph = Graph(f"{model.name}/train{'_weighted' if weighted else ''}")
    loss = _loss_and_metrics(model, graph, spec, training=True, weighted=weighted)
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
    deferred: dict[str, Callable[[], Graph]] = {TRAINING_CALL: lambda: predict_graph(model, training=True)}
    if spec is not None:
        recorded["eval_step"] = eval_graph(model, spec)
        recorded["train_step"], plan = train_graph(model, spec, optimizer)
        initial = dict(plan.initial_values)
        initial[RNG_STATE] = int(global_rng().integers(0, 2**62))  # far from wrapping in any run
        hyperparameters = dict(plan.hyperparameter_inputs)
        deferred[WEIGHTED["eval_step"]] = lambda: eval_graph(model, spec, weighted=True)
        deferred[WEIGHTED["train_step"]] = lambda: train_graph(model, spec, optimizer, weighted=True)[0]
        deferred[GRADIENT_STEP] = lambda: gradient_graph(model, spec)
        deferred[WEIGHTED[GRADIENT_STEP]] = lambda: gradient_graph(model, spec, weighted=True)
        trained = [w.path for w in model.weights if w.trainable and w.path in recorded["train_step"].states]
        deferred[APPLY_STEP] = lambda: apply_graph(model, optimizer, trained)[0]
    return ProgramSet(recorded, initial, hyperparameters, level, tuple(instruments), deferred)
