"""Nadam, Adam with Nesterov momentum (K3 `keras/src/optimizers/nadam.py`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphc.frontend.optimizers.base import Optimizer, warn_legacy
from graphc.frontend.optimizers.hyperparameters import Hyperparameter, check_float
from graphc.frontend.optimizers.step import UpdateStep
from graphc.ir.graph import Node
from graphc.ops import builders as b

EPSILON = 1e-7
U_PRODUCT = "optimizer/u_product"


class Nadam(Optimizer):
    """Adam whose first moment looks one step ahead along the momentum schedule `μ_t = β1(1 - 0.5*0.96^t)`.

    `Π_t = Π_{t-1}*μ_t` is the scalar state `optimizer/u_product` (1 before the first step), then
    `m̂ = μ_{t+1}*m/(1-Π_t*μ_{t+1}) + (1-μ_t)*g/(1-Π_t)`, `v̂ = v/(1-β2^t)`, `w -= m̂*lr/(sqrt(v̂)+eps)`.
    The Keras 2 `schedule_decay=s` makes the schedule `0.96^(s*t)`, as Keras 2 computed it.
    """

    beta_1 = Hyperparameter(high=1.0, high_open=True)
    beta_2 = Hyperparameter(high=1.0, high_open=True)
    epsilon = Hyperparameter()

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float | None = EPSILON, name: str = "nadam", **kwargs: Any) -> None:
        self.schedule_decay: float | None = None
        if "schedule_decay" in kwargs:
            warn_legacy("Nadam", "`schedule_decay` is a Keras 2 argument (schedule 0.96^(schedule_decay*t)); "
                                 "Keras 3 uses 0.96^t", stacklevel=3)
            self.schedule_decay = check_float("Nadam", "schedule_decay", kwargs.pop("schedule_decay"))
        super().__init__(learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = EPSILON if epsilon is None else epsilon

    def _schedule_log(self) -> float:
        """log of the per-step factor of the schedule: 0.96^(s*t) = exp(t * s*log(0.96))."""
        scale = 1.0 if self.schedule_decay is None else self.schedule_decay
        return scale * math.log(0.96)

    def _u_product_after(self, steps: int) -> float:
        """Π after `steps` steps, so a counter that does not start at 0 gets a matching Π."""
        t = np.arange(1, steps + 1, dtype=np.float64)
        return float(np.prod(self.beta_1 * (1.0 - 0.5 * np.exp(t * self._schedule_log()))))

    def _update_all(self, step: UpdateStep, params: list[tuple[str, Node, Node]]) -> None:
        lr = step.learning_rate
        beta_1, beta_2, eps = step.hp("beta_1"), step.hp("beta_2"), step.hp("epsilon")
        decay_t = b.exp(step.t * self._schedule_log())
        u_t = beta_1 * (1.0 - 0.5 * decay_t)
        u_t_1 = beta_1 * (1.0 - 0.5 * b.exp((step.iterations + 2.0) * self._schedule_log()))
        previous = step.state(U_PRODUCT, (), self._u_product_after(self.iterations))
        u_product_t = step.assign(previous, previous * beta_1 * (1.0 - 0.5 * decay_t))
        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = step.power(beta_2, step.t)
        for name, w, g in params:
            m = step.slot("momentum", name, w)
            v = step.slot("velocity", name, w)
            m = step.assign(m, m + (g - m) * (1.0 - beta_1))
            v = step.assign(v, v + (g * g - v) * (1.0 - beta_2))
            m_hat = u_t_1 * m / (1.0 - u_product_t_1) + (1.0 - u_t) * g / (1.0 - u_product_t)
            v_hat = v / (1.0 - beta_2_power)
            step.assign(name, w - m_hat * lr / (b.sqrt(v_hat) + eps))

    def _own_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
        if self.schedule_decay is not None:
            config["schedule_decay"] = self.schedule_decay
        return config
