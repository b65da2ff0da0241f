"""keras.optimizers (and keras.optimizers.legacy)."""

from graphc.frontend.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    Nadam,
    Optimizer,
    RMSprop,
    deserialize,
    get,
    serialize,
)
from graphc.keras.optimizers import legacy, schedules

__all__ = [
    "Adadelta",
    "Adagrad",
    "Adam",
    "Adamax",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "SGD",
    "deserialize",
    "get",
    "legacy",
    "schedules",
    "serialize",
]
