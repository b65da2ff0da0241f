"""keras.optimizers: the update rules of the compiled training step (Keras 3 semantics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphc.frontend.optimizers.adadelta import Adadelta
from graphc.frontend.optimizers.adagrad import Adagrad
from graphc.frontend.optimizers.adam import Adam
from graphc.frontend.optimizers.adamax import Adamax
from graphc.frontend.optimizers.base import Optimizer, UpdatePlan
from graphc.frontend.optimizers.nadam import Nadam
from graphc.frontend.optimizers.rmsprop import RMSprop
from graphc.frontend.optimizers.sgd import SGD

__all__ = [
    "SGD", "Adadelta", "Adagrad", "Adam", "Adamax", "Nadam", "Optimizer", "RMSprop", "UpdatePlan",
    "deserialize", "get", "serialize",
]

_BY_NAME: dict[str, type[Optimizer]] = {
    "sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad, "adadelta": Adadelta, "adam": Adam,
    "adamax": Adamax, "nadam": Nadam,
}


def _class_for(name: Any) -> type[Optimizer]:
    if not isinstance(name, str) or name.lower() not in _BY_NAME:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(_BY_NAME)} "
                         "(any case) or an Optimizer instance")
    return _BY_NAME[name.lower()]


def get(identifier: str | Optimizer | Mapping[str, Any]) -> Optimizer:
    """An optimizer from its name (a fresh one with the Keras 3 defaults), a config dict, or itself."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    return _class_for(identifier)()


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """The Keras 3 form: {"module", "class_name", "config", "registered_name"}."""
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config: Mapping[str, Any]) -> Optimizer:
    """From `serialize` output or a Keras 2 {"class_name", "config"} dict (e.g. an old .h5 file)."""
    if not isinstance(config, Mapping) or "class_name" not in config:
        raise ValueError(f"an optimizer config needs 'class_name' and 'config' keys, got {config!r}")
    return _class_for(config["class_name"]).from_config(config.get("config", {}))
