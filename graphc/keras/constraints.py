"""keras.constraints"""

from graphc.frontend.constraints import (
    Constraint,
    MaxNorm,
    MinMaxNorm,
    NonNeg,
    UnitNorm,
    get,
    max_norm,
    maxnorm,
    min_max_norm,
    non_neg,
    nonneg,
    serialize,
    unit_norm,
    unitnorm,
)

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "get", "max_norm", "maxnorm",
           "min_max_norm", "non_neg", "nonneg", "serialize", "unit_norm", "unitnorm"]
