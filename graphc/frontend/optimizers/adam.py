"""Adam and AMSGrad (K3 `keras/src/optimizers/adam.py`)."""

from __future__ import annotations

from typing import Any

from graphc.frontend.optimizers.base import Optimizer
from graphc.frontend.optimizers.hyperparameters import Hyperparameter, check_bool
from graphc.frontend.optimizers.step import UpdateStep
from graphc.ir.graph import Node
from graphc.ops import builders as b

EPSILON = 1e-7


class Adam(Optimizer):
    """`m += (g-m)(1-β1)`, `v += (g²-v)(1-β2)`, `w -= m*α/(sqrt(v)+eps)`, `α = lr*sqrt(1-β2^t)/(1-β1^t)`.

    eps is Keras's "epsilon hat", added after the bias correction; amsgrad uses `max(v̂, v)`.
    """

    beta_1 = Hyperparameter(high=1.0, high_open=True)
    beta_2 = Hyperparameter(high=1.0, high_open=True)
    epsilon = Hyperparameter()

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float | None = EPSILON, amsgrad: bool = False, name: str = "adam",
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = EPSILON if epsilon is None else epsilon
        self.amsgrad = check_bool("Adam", "amsgrad", amsgrad)

    def _update_all(self, step: UpdateStep, params: list[tuple[str, Node, Node]]) -> None:
        beta_1, beta_2, eps = step.hp("beta_1"), step.hp("beta_2"), step.hp("epsilon")
        beta_1_power, beta_2_power = step.power(beta_1, step.t), step.power(beta_2, step.t)
        alpha = step.learning_rate * b.sqrt(1.0 - beta_2_power) / (1.0 - beta_1_power)
        for name, w, g in params:
            m = step.slot("momentum", name, w)
            v = step.slot("velocity", name, w)
            m = step.assign(m, m + (g - m) * step.one_minus("beta_1"))
            v = step.assign(v, v + (g * g - v) * step.one_minus("beta_2"))
            if self.amsgrad:
                v_hat = step.slot("velocity_hat", name, w)
                v = step.assign(v_hat, b.maximum(v_hat, v))
            step.assign(name, w - m * alpha / (b.sqrt(v) + eps))

    def _own_config(self) -> dict[str, Any]:
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}
