"""DistributedOptimizer: marks an optimizer so that fit averages its gradients across ranks."""

from __future__ import annotations

from typing import Any

from graphc.distribute.state import world
from graphc.frontend import optimizers as optimizers_mod


class _ReduceOp:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"graphc.distribute.{self.name}"


Average = _ReduceOp("Average")
Sum = _ReduceOp("Sum")


class Compression:
    """Horovod's gradient compression choices; gradients travel as float32 here."""

    none = "none"
    fp16 = "fp16"


def DistributedOptimizer(optimizer: Any, name: str | None = None, compression: Any = Compression.none,  # noqa: N802
                         sparse_as_dense: bool = False, backward_passes_per_step: int = 1, op: Any = Average,
                         **horovod_options: Any) -> Any:
    """The optimizer, set to average its gradients over every rank before each update.

    Named like a class because Horovod's is; it returns the optimizer itself (resolved from a name
    if need be) with its `collective` set, so its hyperparameters, schedule and saved form are
    unchanged. Gradients are dense float32 (sparse_as_dense is what happens anyway).
    """
    del name, sparse_as_dense
    if compression not in (None, Compression.none):
        raise NotImplementedError("DistributedOptimizer: compression=fp16 is not supported (MPI has no "
                                  "float16 sum); gradients are reduced as float32")
    if backward_passes_per_step != 1:
        raise NotImplementedError("DistributedOptimizer: backward_passes_per_step must be 1 (gradient "
                                  f"accumulation is not supported), got {backward_passes_per_step!r}")
    if op is not Average:
        raise NotImplementedError(f"DistributedOptimizer: op={op!r} is not supported; gradients are averaged "
                                  "(graphc.distribute.Average)")
    unknown = set(horovod_options) - {"device_dense", "device_sparse", "gradient_predivide_factor",
                                      "average_aggregated_gradients", "num_groups", "groups", "process_set"}
    if unknown:
        raise TypeError(f"DistributedOptimizer() got unexpected keyword arguments {sorted(unknown)}")
    resolved = optimizers_mod.get(optimizer)
    resolved.collective = world()
    return resolved
