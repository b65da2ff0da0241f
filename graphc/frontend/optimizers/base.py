"""The optimizer base class: runtime hyperparameters, gradient preprocessing, Keras-style config."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from types import MappingProxyType
from typing import Any

import numpy as np

from graphc.frontend.optimizers import clipping, schedules
from graphc.frontend.optimizers.applying import AppliedUpdates
from graphc.frontend.optimizers.hyperparameters import Hyperparameter, check_float
from graphc.frontend.optimizers.step import ITERATIONS, UpdateStep, hyperparameter_value
from graphc.ir.graph import Graph, Node

# Keys of Keras 2/3 optimizer configs that do not change the math.
IGNORED_CONFIG_KEYS = ("is_legacy_optimizer", "jit_compile")


@dataclass
class UpdatePlan:
    """What `Optimizer.build` adds to the training step."""

    updates: dict[str, Node]  # state name -> new value (params, slots, the iteration counter)
    initial_values: dict[str, float | int]  # state name -> fill value, for states that do not start at 0
    hyperparameter_inputs: dict[str, str]  # graph input name -> hyperparameter name


def warn_legacy(owner: str, message: str, stacklevel: int = 4) -> None:
    """One line, attributed to the user's constructor call (user -> subclass -> base -> here)."""
    warnings.warn(f"{owner}: {message}", DeprecationWarning, stacklevel=stacklevel)


class Optimizer:
    """Builds the parameter update of a training step as graph nodes (Keras 3 semantics).

    Float hyperparameters are graph inputs fed at every step (see `feeds`), so assigning one after
    compiling, e.g. ``model.optimizer.learning_rate = 0.01``, changes the next step. `iterations`
    counts the steps applied; the trainer writes it back from the runtime's counter state.
    """

    learning_rate = Hyperparameter()
    decay = Hyperparameter(optional=True, switch=True, off_is_noop=True)
    weight_decay = Hyperparameter(optional=True, switch=True, off_is_noop=True)
    clipnorm = Hyperparameter(optional=True, switch=True)
    clipvalue = Hyperparameter(optional=True, switch=True)
    global_clipnorm = Hyperparameter(optional=True, switch=True)

    def __init__(
        self,
        learning_rate: float,
        *,
        name: str,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        **kwargs: Any,
    ) -> None:
        self._hyperparameters: dict[str, float] = {}
        self._switches_at_build: dict[str, bool] = {}
        self._plan_inputs: dict[str, str] | None = None
        self._feeds_made_from: tuple[dict[str, str], dict[str, float], type] | None = None
        self._feeds: dict[str, np.generic] = {}
        owner = type(self).__name__
        if "lr" in kwargs:
            warn_legacy(owner, "`lr` is a Keras 2 argument; use `learning_rate` (`lr` wins, as in Keras 2)")
            learning_rate = kwargs.pop("lr")
        decay = None
        if "decay" in kwargs:
            warn_legacy(owner, "`decay` is a Keras 2 argument, applied per batch as lr / (1 + decay * "
                               "iterations); Keras 3 ignores it (use InverseTimeDecay)")
            decay = kwargs.pop("decay")
        if kwargs:
            raise ValueError(f"{owner}: unrecognized argument(s) {sorted(kwargs)}")
        for arg, value, inert in (("use_ema", use_ema, False),
                                  ("ema_overwrite_frequency", ema_overwrite_frequency, None),
                                  ("loss_scale_factor", loss_scale_factor, None),
                                  ("gradient_accumulation_steps", gradient_accumulation_steps, None)):
            if value != inert:
                raise NotImplementedError(f"{owner}: `{arg}` is not supported (expected {inert!r}, "
                                          f"got {value!r})")
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clips.values()) > 1:
            raise ValueError(f"{owner}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be "
                             f"set, got {clips}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{owner}: `name` must be a non-empty string, got {name!r}")
        self.name = name
        self.ema_momentum = check_float(owner, "ema_momentum", ema_momentum, 0.0, 1.0)
        if isinstance(learning_rate, Mapping):  # a serialized schedule, as configs carry it
            learning_rate = schedules.deserialize(learning_rate)
        schedule = learning_rate if isinstance(learning_rate, schedules.LearningRateSchedule) else None
        self._lr_schedule = None
        self.learning_rate = schedule(0) if schedule is not None else learning_rate
        self._lr_schedule = schedule
        self.decay = decay
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.iterations = 0
        self._applied = AppliedUpdates()

    # -- hyperparameters ----------------------------------------------------------------------
    @property
    def hyperparameters(self) -> Mapping[str, float]:
        """Live read-only view of the current values; set them as attributes."""
        return MappingProxyType(self._hyperparameters)

    @property
    def iterations(self) -> int:
        return self._iterations

    @iterations.setter
    def iterations(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, Real) or value < 0 or value != int(value):
            raise ValueError(f"{type(self).__name__}: `iterations` must be an integer >= 0, got {value!r}")
        self._iterations = int(value)

    @property
    def schedule(self) -> schedules.LearningRateSchedule | None:
        """The learning-rate schedule the rate follows, if any (then the rate cannot be set)."""
        return self._lr_schedule

    def count_step(self) -> None:
        """One more step applied (the trainer calls it per batch; the runtime's counter is the truth,
        written back after each epoch), so a learning-rate schedule sees the right step."""
        self._iterations += 1

    def feeds(self, dtype: type = np.float32) -> dict[str, np.generic]:
        """The `hp/<name>` inputs of the last built step, with the current values."""
        if self._plan_inputs is None:
            raise RuntimeError(f"{type(self).__name__}: feeds() needs the training step built first "
                               "(Optimizer.build)")
        if self._lr_schedule is not None:
            self._hyperparameters["learning_rate"] = float(self._lr_schedule(self._iterations))
        values = self._hyperparameters
        source = (self._plan_inputs, values, dtype)
        if self._feeds_made_from != source:  # made once per change, not per step (~1 us)
            self._feeds = {name: dtype(hyperparameter_value(values, hp))
                           for name, hp in self._plan_inputs.items()}
            self._feeds_made_from = (self._plan_inputs, dict(values), dtype)
        return dict(self._feeds)

    # -- custom training loops ----------------------------------------------------------------
    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Any]]) -> int:
        """Update each variable (a model weight) from its gradient with this optimizer's compiled
        update (optimizers/applying.py), as a custom training loop does after `tape.gradient`;
        returns the new step count."""
        self._applied.apply(self, grads_and_vars)
        return self.iterations

    def apply(self, grads: Sequence[Any], trainable_variables: Sequence[Any]) -> int:
        """Keras 3's spelling of apply_gradients(zip(grads, trainable_variables))."""
        return self.apply_gradients(zip(grads, trainable_variables, strict=True))

    # -- the update graph ---------------------------------------------------------------------
    def build(self, graph: Graph, params: Sequence[tuple[str, Node, Node]]) -> UpdatePlan:
        """Append the update of `params` = [(state name, state node, gradient)] to `graph`.

        Call it inside ``graph.scope(role="update")``; the caller installs `updates` as the
        graph's state updates, fills `initial_values` and feeds `feeds()` at every step.
        """
        params = list(params)
        for name, param, grad in params:
            if grad.shape != param.shape:
                raise ValueError(f"{type(self).__name__}: gradient of {name!r} has shape {grad.shape}, "
                                 f"expected the parameter's {param.shape}")
        self._switches_at_build = {hp.name: hp.is_on(getattr(self, hp.name)) for hp in self._switches()}
        if not params:
            self._plan_inputs = {}
            return UpdatePlan({}, {}, {})
        step = UpdateStep(graph, self.iterations)
        if self._built_on("decay"):
            step.learning_rate = step.learning_rate / (1.0 + step.hp("decay") * step.iterations)
        grads = self._clip(step, [grad for _, _, grad in params])
        values = [param for _, param, _ in params]
        if self._built_on("weight_decay"):
            wd = step.hp("weight_decay")
            values = [value - value * wd * step.learning_rate for value in values]
        self._update_all(step, [(p[0], v, g) for p, v, g in zip(params, values, grads, strict=True)])
        step.assign(ITERATIONS, step.next_counter)
        self._plan_inputs = dict(step.hyperparameter_inputs)
        return UpdatePlan(step.updates, step.initial_values, dict(step.hyperparameter_inputs))

    def _update_all(self, step: UpdateStep, params: list[tuple[str, Node, Node]]) -> None:
        """Assign every parameter's (and slot's) new value: the optimizer's `update_step`."""
        raise NotImplementedError

    def _clip(self, step: UpdateStep, grads: list[Node]) -> list[Node]:
        if self._built_on("clipnorm"):
            clipnorm = step.hp("clipnorm")
            return [clipping.clip_by_norm(g, clipnorm) for g in grads]
        if self._built_on("global_clipnorm"):
            return clipping.clip_by_global_norm(grads, step.hp("global_clipnorm"))
        if self._built_on("clipvalue"):
            clipvalue = step.hp("clipvalue")
            return [clipping.clip_by_value(g, clipvalue) for g in grads]
        return grads

    def _built_on(self, name: str) -> bool:
        return self._switches_at_build[name]

    @classmethod
    def _switches(cls) -> list[Hyperparameter]:
        found: dict[str, Hyperparameter] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                if isinstance(attr, Hyperparameter) and attr.switch:
                    found[attr.name] = attr
        return list(found.values())

    # -- config -------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The Keras 3 config (plus `decay` when the Keras 2 decay is in use)."""
        config: dict[str, Any] = {
            "name": self.name,
            "learning_rate": (schedules.serialize(self._lr_schedule) if self._lr_schedule is not None
                              else self.learning_rate),
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": False,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": None,
            "loss_scale_factor": None,
            "gradient_accumulation_steps": None,
        }
        if self.decay is not None:
            config["decay"] = self.decay
        config.update(self._own_config())
        return config

    def _own_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Optimizer:
        """Rebuild from `get_config()` or a Keras 2/3 file's config; its Keras 2 keys load quietly."""
        kwargs = {k: v for k, v in config.items() if k not in IGNORED_CONFIG_KEYS}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return cls(**kwargs)

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v:g}" for k, v in self._hyperparameters.items())
        return f"<{type(self).__name__} {self.name!r}: {values}>"

