"""Adamax, Adam with the infinity norm (K3 `keras/src/optimizers/adamax.py`)."""

from __future__ import annotations

from typing import Any

from graphc.frontend.optimizers.base import Optimizer
from graphc.frontend.optimizers.hyperparameters import Hyperparameter
from graphc.frontend.optimizers.step import UpdateStep
from graphc.ir.graph import Node
from graphc.ops import builders as b

EPSILON = 1e-7


class Adamax(Optimizer):
    """`m += (g-m)(1-β1)`, `u = max(β2*u, |g|)`, `w -= lr*m / ((1-β1^t)*(u+eps))`.

    Keras 3's default learning rate is 0.001 (Keras 2: 0.002).
    """

    beta_1 = Hyperparameter(high=1.0, high_open=True)
    beta_2 = Hyperparameter(high=1.0)
    epsilon = Hyperparameter()

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float | None = EPSILON, name: str = "adamax", **kwargs: Any) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = EPSILON if epsilon is None else epsilon

    def _update_all(self, step: UpdateStep, params: list[tuple[str, Node, Node]]) -> None:
        lr = step.learning_rate
        beta_1, beta_2, eps = step.hp("beta_1"), step.hp("beta_2"), step.hp("epsilon")
        correction = 1.0 - step.power(beta_1, step.t)
        for name, w, g in params:
            m = step.slot("momentum", name, w)
            u = step.slot("norm", name, w)
            m = step.assign(m, m + (g - m) * step.one_minus("beta_1"))
            u = step.assign(u, b.maximum(beta_2 * u, b.abs_(g)))
            step.assign(name, w - lr * m / (correction * (u + eps)))

    def _own_config(self) -> dict[str, Any]:
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
