"""The graphs of a model at each stage of the compiler, for drawing and inspection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphc.frontend.programs import ProgramSet, build_programs
from graphc.ir.graph import Graph
from graphc.passes.pipeline import DEFAULT_LEVEL

if TYPE_CHECKING:
    from graphc.frontend.models import Model

STAGES = ("forward", "training", "optimized")


def model_programs(model: Model, level: int | str = DEFAULT_LEVEL) -> ProgramSet:
    """The programs `fit` would compile at optimization `level`, recorded without data.

    Labels take the shape `fit` last saw; before any fit, the shape the loss asks for (the
    prediction's shape for a loss alias such as "crossentropy"), and metric aliases such as
    "accuracy" follow it.
    """
    if not model.built:
        raise ValueError(f"model {model.name!r} has no input shape yet: give the first layer an "
                         "input_shape (or start from Input()) before drawing or inspecting it")
    spec = None
    if model.compiled:
        spec = model._spec
        if spec is None:
            spec = model._resolve_spec(model._resolve_spec(tuple(model.outputs[0].shape)).label_shape)
    return build_programs(model, spec, model.optimizer, level)


def stage_graph(model: Model, stage: str, level: int | str = DEFAULT_LEVEL) -> Graph:
    """forward: the predict program and training: the train step, both with only dead code removed (O0);
    optimized: the train step (the predict program for a model not compiled for training) at `level`."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    graphs = model_programs(model, level if stage == "optimized" else 0).graphs
    if stage == "forward":
        return graphs["predict"]
    if stage == "training" and "train_step" not in graphs:
        raise ValueError(f"stage 'training' needs a training graph: call model.compile(optimizer, loss) "
                         f"on {model.name!r} first")
    return graphs.get("train_step", graphs["predict"])
