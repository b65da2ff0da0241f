"""What saving needs of a model. Saving names no model class: frontend/models.py, which sits
above it, calls saving for `model.save()` and registers the classes saving builds from configs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from graphc.frontend.layers.base import KerasTensor, Layer, Weight


class SavableModel(Protocol):
    name: str
    built: bool
    trainable: bool
    compiled: bool
    loss: Any
    optimizer: Any
    inputs: list[KerasTensor]
    outputs: list[KerasTensor]
    operations: list[tuple[Layer, list[KerasTensor], KerasTensor]]
    _engine: Any
    _metric_ids: list[Any] | dict[str, list[Any]]
    _weighted_metric_ids: list[Any] | dict[str, list[Any]]
    _loss_weights: Any

    @property
    def layers(self) -> list[Layer]: ...

    @property
    def weights(self) -> list[Weight]: ...

    def add(self, layer: Layer | KerasTensor) -> None: ...

    def compile(self, optimizer: Any = ..., loss: Any = ..., metrics: Sequence[Any] | None = ...,
                **kwargs: Any) -> None: ...

    def optimizer_slots(self) -> list[tuple[str, tuple[int, ...]]]: ...

    def _restore_optimizer_slots(self, values: Mapping[str, np.ndarray]) -> None: ...
