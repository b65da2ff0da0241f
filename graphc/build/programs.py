"""Model -> programs: the one way every command, the AOT build and the stage diagrams record a model."""

from __future__ import annotations

from graphc.frontend.models import Model
from graphc.frontend.programs import ProgramSet, build_programs
from graphc.passes.pipeline import DEFAULT_LEVEL


def model_programs(model: Model, level: int | str = DEFAULT_LEVEL, with_training: bool | None = None,
                   caller: str = "graphc") -> ProgramSet:
    """The programs `fit` would compile at optimization `level`, recorded without data.

    `with_training` None: a train step when the model is compiled. Labels take the shape `fit`
    last saw; before any fit, the shape the loss asks for (Model.expected_loss_spec).
    """
    if not model.built:
        raise ValueError(f"{caller}: model {model.name!r} has no input shape yet: give its first layer "
                         "input_shape=... (or start from Input(), or call fit/predict once)")
    if with_training is None:
        with_training = model.compiled
    if with_training and not model.compiled:
        raise ValueError(f"{caller}: with_training needs a compiled model (model.compile(optimizer, loss, "
                         f"metrics)); {model.name!r} is not compiled")
    spec = model.expected_loss_spec() if with_training else None
    return build_programs(model, spec, model.optimizer if with_training else None, level)
