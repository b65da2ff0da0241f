"""Horovod's Keras callbacks (`hvd.callbacks.*`), for scripts that port by changing the import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from graphc.distribute.state import world
from graphc.frontend.callbacks import Callback
from graphc.frontend.data_parallel import BroadcastsVariables, collective_of


class BroadcastGlobalVariablesCallback(BroadcastsVariables):
    """Every rank starts from root_rank's weights and optimizer state.

    With a DistributedOptimizer, fit broadcasts before its first step from this callback's root
    (Horovod broadcasts after the first batch, because TensorFlow creates the optimizer's variables
    then; before it, the first step already starts from equal weights). Without one, the weights
    are broadcast when training begins.
    """

    def __init__(self, root_rank: int = 0, device: str = "") -> None:
        del device
        super().__init__(root_rank)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if collective_of(self.model.optimizer) is None:
            weights = self.model.get_weights()
            for array in weights:
                world().broadcast(array, self.root_rank)
            self.model.set_weights(weights)


class MetricAverageCallback(Callback):
    """Averages every epoch log over the ranks (sorted keys, in place), as Horovod's does. fit already
    logs the exact means over every rank's samples in data-parallel training, so there it changes
    nothing; it matters for logs a callback added on one rank only."""

    def __init__(self, device: str = "") -> None:
        del device
        super().__init__()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not logs:
            return
        keys = sorted(logs)
        values = np.array([float(logs[key]) for key in keys], dtype=np.float64)
        world().allreduce_sum(values)
        for key, value in zip(keys, values / world().size, strict=True):
            logs[key] = float(value)


class _LearningRateCallback(Callback):
    """Sets the learning rate before each batch from `multiplier(epoch)`; with momentum_correction,
    SGD's momentum is scaled by new_lr/old_lr for the batch where the rate changes (Goyal et al.),
    at most to 1 (the bound Keras's optimizers check)."""

    def __init__(self, initial_lr: float, multiplier: Callable[[float], float], start_epoch: int,
                 end_epoch: int | None, staircase: bool, momentum_correction: bool,
                 steps_per_epoch: int | None) -> None:
        super().__init__()
        self.initial_lr = float(initial_lr)
        self.multiplier = multiplier
        self.start_epoch = start_epoch
        self.end_epoch = end_epoch
        self.staircase = staircase
        self.momentum_correction = momentum_correction
        self.steps_per_epoch = steps_per_epoch
        self.current_epoch = 0
        self._restore_momentum: float | None = None

    def _steps(self) -> int:
        steps = self.steps_per_epoch or (self.params or {}).get("steps")
        if not steps:
            raise ValueError(f"{type(self).__name__}: give steps_per_epoch (fit does not know the steps)")
        return int(steps)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.current_epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        epoch = self.current_epoch
        if epoch < self.start_epoch or (self.end_epoch is not None and epoch >= self.end_epoch):
            return
        point = epoch if self.staircase else epoch + float(batch) / self._steps()
        if self.staircase and batch != 0:
            return
        self._set_rate(self.initial_lr * self.multiplier(point))

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._restore_momentum is not None:
            self.model.optimizer.momentum = self._restore_momentum
            self._restore_momentum = None

    def _set_rate(self, rate: float) -> None:
        optimizer = self.model.optimizer
        old = float(optimizer.learning_rate)
        optimizer.learning_rate = rate
        momentum = getattr(optimizer, "momentum", None)
        if self.momentum_correction and momentum and old > 0 and rate != old:
            self._restore_momentum = float(momentum)
            optimizer.momentum = min(float(momentum) * rate / old, 1.0)  # Keras's bound on momentum


class LearningRateScheduleCallback(_LearningRateCallback):
    """`lr = initial_lr * multiplier(epoch)` for epochs in [start_epoch, end_epoch); a constant
    multiplier is a constant factor (Horovod's ResNet-50 example steps the rate down with
    multiplier=1e-1, 1e-2, ... over successive epoch ranges)."""

    def __init__(self, initial_lr: float, multiplier: float | Callable[[float], float], start_epoch: int = 0,
                 end_epoch: int | None = None, staircase: bool = True, momentum_correction: bool = True,
                 steps_per_epoch: int | None = None) -> None:
        if not callable(multiplier):
            factor = float(multiplier)
            staircase = True

            def multiplier(epoch: float) -> float:
                return factor

        super().__init__(initial_lr, multiplier, start_epoch, end_epoch, staircase, momentum_correction,
                         steps_per_epoch)


class LearningRateWarmupCallback(_LearningRateCallback):
    """Ramps the rate from initial_lr/size to initial_lr over warmup_epochs (Goyal et al.):
    `lr = initial_lr / size * (e * (size - 1) / warmup_epochs + 1)` with e = epoch + (batch + 1) / steps."""

    def __init__(self, initial_lr: float, warmup_epochs: int = 5, momentum_correction: bool = True,
                 steps_per_epoch: int | None = None, verbose: int = 0) -> None:
        size = world().size

        def multiplier(epoch: float) -> float:
            return 1.0 / size * (epoch * (size - 1) / warmup_epochs + 1)

        super().__init__(initial_lr, multiplier, 0, warmup_epochs, False, momentum_correction,
                         steps_per_epoch)
        self.warmup_epochs = warmup_epochs
        self.verbose = verbose

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.current_epoch < self.warmup_epochs:
            point = self.current_epoch + float(batch + 1) / self._steps()
            self._set_rate(self.initial_lr * self.multiplier(point))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == self.warmup_epochs - 1 and self.verbose and world().rank == 0:
            print(f"\nEpoch {epoch + 1}: finished gradual learning rate warmup to "
                  f"{float(self.model.optimizer.learning_rate):g}.")
