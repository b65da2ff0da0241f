"""The graphs of a model at each stage of the compiler, for drawing and inspection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphc.build.programs import model_programs
from graphc.ir.graph import Graph
from graphc.passes.pipeline import DEFAULT_LEVEL

if TYPE_CHECKING:
    from graphc.frontend.models import Model

STAGES = ("forward", "training", "optimized")


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
