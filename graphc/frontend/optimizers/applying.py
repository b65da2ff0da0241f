"""optimizer.apply_gradients: the optimizer's compiled update applied to given gradients.

The update is the one the training step builds (`programs.apply_graph`: Optimizer.build, then the
weights' constraints), compiled once per list of weights and bound to their live buffers, so
`predict`, `fit`, `get_weights` and `save_weights` see the new values. The slots (`optimizer/<slot>/<weight>`)
belong to the optimizer: created on first use, shared by every list of weights it updates.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphc.frontend.engine import CompiledModel
from graphc.frontend.layers.base import Weight
from graphc.frontend.optimizers.step import ITERATIONS, OPTIMIZER_STATE_PREFIX
from graphc.frontend.programs import GRADIENT_PREFIX, ProgramSet, apply_graph

PROGRAM = "apply_gradients"


@dataclass
class _Variables:
    """The weights one apply program updates, in the shape programs.apply_graph records from."""

    name: str
    weights: list[Weight]


class AppliedUpdates:
    """An optimizer's compiled updates (one per list of weights) and the slots they share."""

    def __init__(self) -> None:
        self._programs: dict[tuple[int, ...], tuple[CompiledModel, list[Weight]]] = {}
        self._slots: dict[tuple[str, int | None], np.ndarray] = {}  # by (slot, id(weight)), see _slot_key

    def apply(self, optimizer: Any, pairs: Iterable[tuple[Any, Any]]) -> None:
        grads, weights = _present(list(pairs))
        key = tuple(id(weight) for weight in weights)
        entry = self._programs.get(key)
        if entry is None:
            entry = self._programs[key] = (self._compile(optimizer, weights), weights)  # keeps their ids
        engine = entry[0]
        engine.store.assign(ITERATIONS, np.int64(optimizer.iterations))
        feeds = {GRADIENT_PREFIX + weight.path: grad for weight, grad in zip(weights, grads, strict=True)}
        engine.program(PROGRAM)(1, **feeds, **optimizer.feeds())
        optimizer.count_step()

    def _compile(self, optimizer: Any, weights: list[Weight]) -> CompiledModel:
        graph, plan = apply_graph(_Variables(optimizer.name, weights), optimizer, [w.path for w in weights])
        programs = ProgramSet({PROGRAM: graph}, initial_values=dict(plan.initial_values))
        engine = CompiledModel(programs, weights, optimizer.name)
        by_path = {weight.path: weight for weight in weights}
        for name in engine.store.names():  # before the program binds the store: slots shared across lists
            if name.startswith(OPTIMIZER_STATE_PREFIX) and name != ITERATIONS:
                key = _slot_key(name, by_path)
                if key in self._slots:
                    engine.store.share(name, self._slots[key])
                else:
                    self._slots[key] = engine.store[name]
        engine.program(PROGRAM)  # compiled now: the first step's time, not a later one's
        return engine


def _slot_key(name: str, by_path: dict[str, Weight]) -> tuple[str, int | None]:
    """`optimizer/<slot>/<weight path>` belongs to that weight object (two models may hold weights of
    one path); `optimizer/<name>` (Nadam's u_product) to the optimizer."""
    slot, _, path = name[len(OPTIMIZER_STATE_PREFIX):].partition("/")
    return (slot, id(by_path[path])) if path else (slot, None)


def _present(pairs: list[tuple[Any, Any]]) -> tuple[list[np.ndarray], list[Weight]]:
    """Gradients as float32 arrays of their weights' shapes, pairs with a None gradient left out
    with Keras's warning (an error when no gradient is left)."""
    grads, weights, missing = [], [], []
    for grad, weight in pairs:
        if not isinstance(weight, Weight):
            raise TypeError(f"apply_gradients: expected (gradient, variable) pairs with model weights as the "
                            f"variables, got {type(weight).__name__}")
        if grad is None:
            missing.append(weight.path)
            continue
        array = np.asarray(grad, dtype=np.float32, order="C")  # (a scalar stays 0-d)
        if array.shape != weight.shape:
            raise ValueError(f"apply_gradients: the gradient of {weight.path!r} has shape {array.shape}, the "
                             f"variable {weight.shape}")
        if any(weight.path == known.path for known in weights):
            raise ValueError(f"apply_gradients: two variables named {weight.path!r} (the same one twice, or "
                             "layers of the same name)")
        grads.append(array)
        weights.append(weight)
    if not weights:
        raise ValueError("No gradients provided for any variable.")
    if missing:
        warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the loss. If using "
                      "`model.compile()`, did you forget to provide a `loss` argument?", UserWarning,
                      stacklevel=3)
    return grads, weights
