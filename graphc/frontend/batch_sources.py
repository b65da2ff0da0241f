"""Batches from Python: generators, iterators and Keras Sequences/PyDatasets, as Keras's fit,
evaluate and predict take them, read one epoch ahead of the compiled step on a background thread.

A source gives (x, y) batches (or x alone for predict). A Sequence (`__len__` and
`__getitem__`, like keras.utils.PyDataset and ImageDataGenerator's iterators) is read by index,
0..len-1 each epoch (or `steps` of them), then its `on_epoch_end()` runs. A generator or
iterator is read with next(): `steps` batches per epoch, or, without `steps`, until it is
exhausted (its epoch ends there, as in Keras 3; fit stops with a warning when a later epoch finds
it empty or it ends before `steps`). The producer thread prepares at most QUEUE
batches ahead: augmentation in numpy runs while native code trains (ctypes releases the
interpreter during a step), and an exception in the source is raised in the caller.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

QUEUE = 4
_DONE = object()


def is_batch_source(value: Any) -> bool:
    """A generator, an iterator, a Sequence or an iterable such as graphc.data.Dataset: anything
    batch-producing that is not array data."""
    if (
        value is None
        or isinstance(value, (np.ndarray, list, tuple, dict, str, bytes))
        or hasattr(value, "__array__")
    ):
        return False
    return (
        hasattr(value, "__next__")
        or hasattr(value, "__iter__")
        or (hasattr(value, "__getitem__") and hasattr(value, "__len__"))
    )


@dataclass
class Batch:
    x: Any  # an array, or a list/dict of arrays for a model with several inputs
    y: Any
    sample_weight: Any = None


class BatchSource:
    """The epochs of one source; `steps` is the batches per epoch when known beforehand."""

    def __init__(self, source: Any, steps: int | None, what: str, need_labels: bool) -> None:
        if isinstance(steps, (float, np.floating)) and steps > 0:
            steps = math.ceil(steps)  # Keras 2 tutorials pass len(x) / batch_size; it ran ceil(...) steps
        if steps is not None and (
            isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1
        ):
            raise ValueError(f"{what}: steps must be a positive integer, got {steps!r}")
        self.source = source
        self.what = what
        self.need_labels = need_labels
        sequence = hasattr(source, "__len__") and hasattr(source, "__getitem__")
        self.indexed = sequence or not hasattr(source, "__next__") and not hasattr(source, "__iter__")
        # An iterable that is not its own iterator (a Dataset) starts afresh every epoch.
        self.restarts = not self.indexed and not hasattr(source, "__next__")
        self.iterator: Iterator[Any] | None = None if self.restarts else source
        if self.indexed:
            length = len(source)
            if length < 1:
                raise ValueError(f"{what}: the Sequence is empty (len 0)")
            self.steps: int | None = min(int(steps), length) if steps is not None else length
        else:
            self.steps = None if steps is None else int(steps)
            if self.steps is None and self.restarts:
                try:
                    self.steps = len(source) or None
                except TypeError:  # an iterable of unknown length: each epoch runs to its end
                    self.steps = None
        self.exhausted = False

    def epoch(self) -> Iterator[Batch]:
        """The next epoch's batches, prepared on a background thread; none once a generator is exhausted."""
        if self.exhausted:
            return
        slots: queue.Queue[Any] = queue.Queue(maxsize=QUEUE)
        stop = threading.Event()
        producer = threading.Thread(
            target=self._produce, args=(slots, stop), name="graphc-batches", daemon=True
        )
        producer.start()
        try:
            while True:
                item = slots.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while producer.is_alive():  # unblock a producer waiting on a full queue
                try:
                    slots.get_nowait()
                except queue.Empty:
                    producer.join(0.01)

    def _produce(self, slots: queue.Queue[Any], stop: threading.Event) -> None:
        try:
            count = 0
            if self.restarts:
                self.iterator = iter(self.source)
            while (self.steps is None or count < self.steps) and not stop.is_set():
                if self.indexed:
                    raw = self.source[count]
                else:
                    try:
                        raw = next(self.iterator)  # type: ignore[arg-type]
                    except StopIteration:
                        self.exhausted = not self.restarts
                        break
                slots.put(self._unpack(raw, count))
                count += 1
            if self.indexed and not stop.is_set() and hasattr(self.source, "on_epoch_end"):
                self.source.on_epoch_end()
        except BaseException as error:  # noqa: BLE001 - handed to the consuming thread, raised there
            slots.put(error)
            return
        slots.put(_DONE)

    def _unpack(self, raw: Any, index: int) -> Batch:
        """(x,), (x, y) or (x, y, sample_weight), as Keras reads a source's batches."""
        if isinstance(raw, tuple):
            if len(raw) not in (1, 2, 3):
                raise ValueError(
                    f"{self.what}: batch {index} is a tuple of {len(raw)} items; expected (x, y) or "
                    "(x, y, sample_weight)"
                )
            x, y = raw[0], raw[1] if len(raw) > 1 else None
            weights = raw[2] if len(raw) == 3 else None
        else:
            x, y, weights = raw, None, None
        if self.need_labels and y is None:
            raise ValueError(f"{self.what}: batch {index} has no labels; the source must yield (x, y) pairs")
        return Batch(_arrays(x), None if y is None else _arrays(y),
                     None if weights is None else _arrays(weights))


def _arrays(value: Any) -> Any:
    """An array, or for several model inputs (outputs) their list or dict as given."""
    if isinstance(value, (list, tuple, dict)) and not _is_numbers(value):
        return value
    return np.asarray(value)


def _is_numbers(value: Any) -> bool:
    """A plain (nested) list of numbers is one array; a list of arrays is several inputs."""
    return isinstance(value, (list, tuple)) and not any(isinstance(v, (np.ndarray, dict)) for v in value)


class PyDataset:
    """keras.utils.PyDataset (Keras 2: Sequence): subclass it with `__len__` (batches per epoch) and
    `__getitem__(index)` returning an (x, y) batch; `on_epoch_end` runs after every epoch.

    workers, use_multiprocessing and max_queue_size are accepted for compatibility: graphc reads the
    batches of one epoch ahead on one background thread.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10) -> None:
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (the batches per epoch)")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) returning (x, y)")

    def on_epoch_end(self) -> None:
        """Called after each epoch (shuffle your data here)."""


Sequence = PyDataset
