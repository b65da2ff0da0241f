"""Adagrad (K3 `keras/src/optimizers/adagrad.py`)."""

from __future__ import annotations

from typing import Any

from graphc.frontend.optimizers.base import Optimizer
from graphc.frontend.optimizers.hyperparameters import Hyperparameter, check_float
from graphc.frontend.optimizers.step import UpdateStep
from graphc.ir.graph import Node
from graphc.ops import builders as b

EPSILON = 1e-7


class Adagrad(Optimizer):
    """`acc += g²`, then `w -= lr*g/sqrt(acc + eps)`; acc starts at `initial_accumulator_value`.

    Keras 3 defaults (lr 0.001, accumulator 0.1) differ from Keras 2's (0.01, 0): see
    KERAS_REFERENCE §11. The initial value is read when the step is built.
    """

    epsilon = Hyperparameter()

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float | None = EPSILON, name: str = "adagrad", **kwargs: Any) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        self.initial_accumulator_value = check_float("Adagrad", "initial_accumulator_value",
                                                     initial_accumulator_value)
        self.epsilon = EPSILON if epsilon is None else epsilon

    def _update_all(self, step: UpdateStep, params: list[tuple[str, Node, Node]]) -> None:
        lr, eps = step.learning_rate, step.hp("epsilon")
        for name, w, g in params:
            acc = step.slot("accumulator", name, w, self.initial_accumulator_value)
            acc = step.assign(acc, acc + g * g)
            step.assign(name, w - lr * g / b.sqrt(acc + eps))

    def _own_config(self) -> dict[str, Any]:
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}
