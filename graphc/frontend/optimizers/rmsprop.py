"""RMSprop, plain or centered, with optional momentum (K3 `keras/src/optimizers/rmsprop.py`)."""

from __future__ import annotations

from typing import Any

from graphc.frontend.optimizers.base import Optimizer
from graphc.frontend.optimizers.hyperparameters import Hyperparameter, check_bool
from graphc.frontend.optimizers.step import UpdateStep
from graphc.ir.graph import Node
from graphc.ops import builders as b

EPSILON = 1e-7


class RMSprop(Optimizer):
    """`v = rho*v + (1-rho)*g²`; `w -= lr*g/sqrt(v + eps)` (eps inside the sqrt, as in Keras 3).

    Centered subtracts the squared running mean of g under the sqrt; momentum accumulates the
    increments. `epsilon=None` means 1e-7, as in Keras 2.
    """

    rho = Hyperparameter(high=1.0)
    momentum = Hyperparameter(high=1.0, switch=True, off_is_noop=True)
    epsilon = Hyperparameter()

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float | None = EPSILON, centered: bool = False, name: str = "rmsprop",
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, name=name, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = EPSILON if epsilon is None else epsilon
        self.centered = check_bool("RMSprop", "centered", centered)

    def _update_all(self, step: UpdateStep, params: list[tuple[str, Node, Node]]) -> None:
        lr, rho, eps = step.learning_rate, step.hp("rho"), step.hp("epsilon")
        momentum = step.hp("momentum") if self._built_on("momentum") else None
        for name, w, g in params:
            v = step.slot("velocity", name, w)
            v = step.assign(v, rho * v + step.one_minus("rho") * (g * g))
            if self.centered:
                avg = step.slot("average_gradient", name, w)
                avg = step.assign(avg, rho * avg + step.one_minus("rho") * g)
                denominator = v - avg * avg + eps
            else:
                denominator = v + eps
            increment = lr * g / b.sqrt(denominator)
            if momentum is not None:
                mom = step.slot("momentum", name, w)
                increment = step.assign(mom, momentum * mom + increment)
            step.assign(name, w - increment)

    def _own_config(self) -> dict[str, Any]:
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}
