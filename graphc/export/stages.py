"""The graphs of a model at each stage of the compiler, for drawing and inspection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphc.frontend.programs import ProgramSet, build_programs
from graphc.ir.graph import Graph

if TYPE_CHECKING:
    from graphc.frontend.models import Model

STAGES = ("forward", "training", "optimized")


def model_programs(model: Model) -> ProgramSet:
    """The programs `fit` would compile, recorded without data.

    With no label array at hand, labels take the shape the loss asks for (the prediction's shape
    for a loss alias such as "crossentropy"), and metric aliases such as "accuracy" follow it.
    """
    if not model.built:
        raise ValueError(f"model {model.name!r} has no input shape yet: give the first layer an "
                         "input_shape (or start from Input()) before drawing or inspecting it")
    spec = None
    if model.compiled:
        spec = model._resolve_spec(tuple(model.outputs[0].shape))
        spec = model._resolve_spec(spec.label_shape)
    return build_programs(model, spec, model.optimizer)


def stage_graph(model: Model, stage: str, level: int = 2) -> Graph:
    """forward: the predict program; training: the train step as recorded; optimized: after the pipeline."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    graphs = model_programs(model).graphs
    if stage == "forward":
        return graphs["predict"]
    if "train_step" not in graphs:
        raise ValueError(f"stage {stage!r} needs a training graph: call model.compile(optimizer, loss) "
                         f"on {model.name!r} first")
    if stage == "training":
        return graphs["train_step"]
    from graphc.export.pipeline import optimize

    return optimize(graphs["train_step"], level).graph
