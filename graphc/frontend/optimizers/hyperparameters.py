"""Validated optimizer settings; the float ones are fed to the compiled step at every call."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any


def check_float(owner: str, name: str, value: Any, low: float = 0.0, high: float = math.inf,
                high_open: bool = False) -> float:
    """`value` as a float in [low, high] (or [low, high)), else a ValueError saying so."""
    interval = f"[{low:g}, {high:g}{')' if high_open else ']'}" if math.isfinite(high) else f">= {low:g}"
    expected = f"a finite float {'in ' if math.isfinite(high) else ''}{interval}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{owner}: `{name}` must be {expected}, got {value!r}")
    number = float(value)
    inside = low <= number and (number < high if high_open else number <= high)
    if not (math.isfinite(number) and inside):
        raise ValueError(f"{owner}: `{name}` must be {expected}, got {value!r}")
    return number


def check_bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{owner}: `{name}` must be True or False, got {value!r}")
    return value


class Hyperparameter:
    """A float setting that the update graph reads from the input `hp/<name>`.

    Assigning it (``opt.learning_rate = 0.01``) validates the value and takes effect at the next
    step without recompiling. A *switch* turns a part of the graph on when it is neither None nor 0
    (momentum, decay, clipping); that part exists only if the switch was on when the step was built,
    so after a build it may not be turned on, nor turned off unless 0 is a no-op of the built part.
    """

    def __init__(self, low: float = 0.0, high: float = math.inf, high_open: bool = False,
                 optional: bool = False, switch: bool = False, off_is_noop: bool = False) -> None:
        self.low, self.high, self.high_open = low, high, high_open
        self.optional = optional
        self.switch = switch
        self.off_is_noop = off_is_noop
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._hyperparameters.get(self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        owner = type(obj).__name__
        if self.name == "learning_rate" and getattr(obj, "_lr_schedule", None) is not None:
            raise TypeError(f"{owner}: this optimizer was created with a learning-rate schedule "
                            f"({type(obj._lr_schedule).__name__}); its rate cannot be set")
        if value is None and self.optional:
            number = None
        else:
            number = check_float(owner, self.name, value, self.low, self.high, self.high_open)
        self._check_switch(obj, owner, number)
        if number is None:
            obj._hyperparameters.pop(self.name, None)
        else:
            obj._hyperparameters[self.name] = number

    def is_on(self, value: float | None) -> bool:
        return value is not None and value != 0

    def _check_switch(self, obj: Any, owner: str, value: float | None) -> None:
        built = obj._switches_at_build
        if not self.switch or self.name not in built:
            return
        was_on, now_on = built[self.name], self.is_on(value)
        if was_on == now_on or (was_on and self.off_is_noop and value is not None):
            return
        state = "on" if was_on else "off"
        raise ValueError(
            f"{owner}: `{self.name}` was {state} when the training step was compiled, so it cannot "
            f"be set to {value!r} now; compile the model again with the new value"
        )
