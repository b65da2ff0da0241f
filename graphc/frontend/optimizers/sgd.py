"""SGD with optional momentum and Nesterov momentum (K3 `keras/src/optimizers/sgd.py`)."""

from __future__ import annotations

from typing import Any

from graphc.frontend.optimizers.base import Optimizer
from graphc.frontend.optimizers.hyperparameters import Hyperparameter, check_bool
from graphc.frontend.optimizers.step import UpdateStep
from graphc.ir.graph import Node


class SGD(Optimizer):
    """`w -= lr*g`; with momentum `m = momentum*m - lr*g`, then `w += m` (Nesterov: `momentum*m - lr*g`).

    Momentum slots exist only if momentum was nonzero when the step was built, as in Keras 3.
    """

    momentum = Hyperparameter(high=1.0, switch=True, off_is_noop=True)

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 name: str = "SGD", **kwargs: Any) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        self.momentum = momentum
        self.nesterov = check_bool("SGD", "nesterov", nesterov)

    def _update_all(self, step: UpdateStep, params: list[tuple[str, Node, Node]]) -> None:
        lr = step.learning_rate
        if not self._built_on("momentum"):
            for name, w, g in params:
                step.assign(name, w - g * lr)
            return
        momentum = step.hp("momentum")
        for name, w, g in params:
            m = step.slot("momentum", name, w)
            m = step.assign(m, m * momentum - g * lr)
            step.assign(name, w + (m * momentum - g * lr if self.nesterov else m))

    def _own_config(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov}
