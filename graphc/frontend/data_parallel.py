"""Data-parallel training steps: what fit does differently when its optimizer sums gradients
across processes (graphc.distribute.DistributedOptimizer gives the optimizer a `collective`).

The frontend defines the collective operations it needs as a protocol and never imports MPI;
graphc.distribute implements them on mpi4py. Every rank calls the same collectives in the same
order, which fit guarantees by running the same number of steps on every rank (a rank whose data
ran out contributes an empty batch) and by deciding to stop together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from graphc.frontend.callbacks import Callback
from graphc.frontend.layers.base import RNG_STATE
from graphc.frontend.programs import APPLY_STEP, GRADIENT_PREFIX, GRADIENT_STEP, WEIGHTED


class Collective(Protocol):
    """The collective operations of a group of processes (an MPI communicator)."""

    rank: int
    size: int

    def allreduce_sum(self, buffer: np.ndarray) -> None:
        """Replace `buffer` by its element-wise sum over the ranks, in place."""

    def broadcast(self, buffer: np.ndarray, root: int) -> None:
        """Replace `buffer` by root's, in place."""

    def allgather(self, value: Any) -> list[Any]:
        """Every rank's picklable `value`, in rank order."""


class BroadcastsVariables(Callback):
    """A callback naming the rank whose weights and optimizer state every rank starts from."""

    def __init__(self, root_rank: int = 0) -> None:
        super().__init__()
        self.root_rank = root_rank


def collective_of(optimizer: Any) -> Collective | None:
    return getattr(optimizer, "collective", None)


def check_same_model(collective: Collective, model_name: str, weights: Sequence[tuple[str, tuple[int, ...]]]
                     ) -> None:
    """Every rank must train the same architecture: same weight paths and shapes, else every rank
    raises the same error (all see every rank's list) instead of hanging in a mismatched allreduce."""
    lists = collective.allgather(list(weights))
    for rank, other in enumerate(lists):
        if other != lists[0]:
            raise ValueError(f"model {model_name!r}: rank {rank} has {len(other)} weights and rank 0 has "
                             f"{len(lists[0])} (or their names or shapes differ); every rank must build the "
                             f"same model. First difference: {_first_difference(lists[0], other)}")


def _first_difference(a: list[Any], b: list[Any]) -> str:
    for left, right in zip(a, b, strict=False):
        if left != right:
            return f"{left} vs {right}"
    return f"{len(a)} vs {len(b)} entries"


def broadcast_states(collective: Collective, store: Any, root: int) -> None:
    """Weights, optimizer slots and step counters from `root` (the dropout counter stays per rank:
    ranks see different samples and draw different masks, as separate processes do)."""
    for name in sorted(store.names()):
        if name != RNG_STATE:
            buffer = store[name]
            value = buffer.copy()
            collective.broadcast(value, root)
            store.assign(name, value)


def average_states(collective: Collective, store: Any, names: Sequence[str]) -> None:
    """Make non-trainable statistics (BatchNormalization's moving mean and variance) equal on every
    rank: their mean over ranks, so the model rank 0 saves is the one every rank validates with."""
    for name in sorted(names):
        value = store[name].astype(np.float64)
        collective.allreduce_sum(value)
        store.assign(name, value / collective.size)


def agree_steps(collective: Collective, steps: int) -> int:
    """The most batches any rank has this epoch: every rank runs that many steps."""
    counts = collective.allgather(int(steps))
    return max(counts)


def any_rank(collective: Collective, flag: bool) -> bool:
    """True on every rank when any rank says so (a callback stopping training on one rank)."""
    value = np.array([1.0 if flag else 0.0])
    collective.allreduce_sum(value)
    return bool(value[0] > 0)


def combine_totals(collective: Collective, totals: Mapping[str, Any],
                   count: int) -> tuple[dict[str, Any], int]:
    """Running sums of losses, metrics and confusion counts summed over the ranks, so the epoch's
    logs are the exact means over every rank's samples."""
    keys = sorted(totals)
    key_lists = collective.allgather(keys)
    if any(other != keys for other in key_lists):
        raise ValueError(f"the ranks logged different metrics: {key_lists}")
    parts = [np.asarray(totals[key], dtype=np.float64).ravel() for key in keys]
    buffer = np.concatenate([np.array([float(count)]), *parts]) if parts else np.array([float(count)])
    collective.allreduce_sum(buffer)
    combined, offset = {}, 1
    for key, part in zip(keys, parts, strict=True):
        value = buffer[offset:offset + part.size]
        shape = np.shape(totals[key])
        combined[key] = float(value[0]) if shape == () else value.reshape(shape)
        offset += part.size
    return combined, int(round(buffer[0]))


class DataParallelStep:
    """One training step of a rank: the gradient program on this rank's batch, the gradients summed
    over ranks in one contiguous float32 allreduce (each scaled by its batch size first, so the sum
    divided by the global batch size is the gradient of the mean loss over the global batch), then
    the update program with the same gradients on every rank, which keeps the weights equal."""

    def __init__(self, engine: Any, collective: Collective, weighted: bool) -> None:
        self._gradients = engine.program(WEIGHTED[GRADIENT_STEP] if weighted else GRADIENT_STEP)
        self._apply = engine.program(APPLY_STEP)
        self._collective = collective
        paths = sorted(name[len(GRADIENT_PREFIX):] for name in engine.input_names(APPLY_STEP)
                       if name.startswith(GRADIENT_PREFIX))
        self._shapes = {path: tuple(engine.store[path].shape) for path in paths}
        sizes = [int(np.prod(shape)) for shape in self._shapes.values()]
        self._buffer = np.zeros(sum(sizes) + 1, dtype=np.float32)  # the gradients, then the sample count
        self._views: dict[str, np.ndarray] = {}
        offset = 0
        for (path, shape), size in zip(self._shapes.items(), sizes, strict=True):
            self._views[path] = self._buffer[offset:offset + size].reshape(shape)
            offset += size

    def __call__(self, batch: int, feeds: Mapping[str, Any], hyperparameters: Mapping[str, Any]
                 ) -> dict[str, np.ndarray]:
        outputs = self._gradients(batch, **feeds)
        for path, view in self._views.items():
            np.multiply(outputs[GRADIENT_PREFIX + path], batch, out=view)
        self._buffer[-1] = batch
        self._reduce_and_apply(hyperparameters)
        return {name: value for name, value in outputs.items() if not name.startswith(GRADIENT_PREFIX)}

    def idle(self, hyperparameters: Mapping[str, Any]) -> None:
        """This rank has no batch left this epoch: it adds nothing to the sum, and still applies it."""
        self._buffer[...] = 0.0
        self._reduce_and_apply(hyperparameters)

    def _reduce_and_apply(self, hyperparameters: Mapping[str, Any]) -> None:
        self._collective.allreduce_sum(self._buffer)
        total = float(self._buffer[-1])
        self._buffer[:-1] /= total
        gradients = {GRADIENT_PREFIX + path: view for path, view in self._views.items()}
        self._apply(1, **gradients, **hyperparameters)

