"""Adadelta (K3 `keras/src/optimizers/adadelta.py`)."""

from __future__ import annotations

from typing import Any

from graphc.frontend.optimizers.base import Optimizer
from graphc.frontend.optimizers.hyperparameters import Hyperparameter
from graphc.frontend.optimizers.step import UpdateStep
from graphc.ir.graph import Node
from graphc.ops import builders as b

EPSILON = 1e-7


class Adadelta(Optimizer):
    """`Eg = rho*Eg + (1-rho)g²`; `Δ = -sqrt(Ed+eps)/sqrt(Eg+eps)*g`; `Ed = rho*Ed + (1-rho)Δ²`; `w += lr*Δ`.

    Keras 3's default learning rate is 0.001 (Keras 2: 1.0).
    """

    rho = Hyperparameter(high=1.0)
    epsilon = Hyperparameter()

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.95, epsilon: float | None = EPSILON,
                 name: str = "adadelta", **kwargs: Any) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho = rho
        self.epsilon = EPSILON if epsilon is None else epsilon

    def _update_all(self, step: UpdateStep, params: list[tuple[str, Node, Node]]) -> None:
        lr, rho, eps = step.learning_rate, step.hp("rho"), step.hp("epsilon")
        for name, w, g in params:
            acc_grad = step.slot("accumulated_grad", name, w)
            acc_delta = step.slot("accumulated_delta_var", name, w)
            acc_grad = step.assign(acc_grad, rho * acc_grad + step.one_minus("rho") * (g * g))
            delta = -(b.sqrt(acc_delta + eps) * g / b.sqrt(acc_grad + eps))
            step.assign(acc_delta, rho * acc_delta + step.one_minus("rho") * (delta * delta))
            step.assign(name, w + lr * delta)

    def _own_config(self) -> dict[str, Any]:
        return {"rho": self.rho, "epsilon": self.epsilon}
