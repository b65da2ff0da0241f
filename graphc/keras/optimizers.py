"""keras.optimizers"""

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
    "serialize",
]
