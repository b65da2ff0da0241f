"""A small tf.data-like Dataset: the pipeline steps tutorials use, as a Python iterable of batches.

`from_tensor_slices((x, y))` slices arrays along their first axis; `shuffle`, `batch`, `map`,
`repeat`, `take`, `skip` and `prefetch` compose lazily, each returning a new Dataset; iterating
one runs the pipeline. `fit`/`evaluate`/`predict` read a Dataset like any batch source (on a
background thread, so `map` work overlaps the compiled step); a Dataset has a length when it is
finite and knowable, which fit uses as the steps per epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

Element = Any


class Dataset:
    """An iterable pipeline; `len()` is the element count when it is known."""

    def __init__(self, make: Callable[[], Iterator[Element]], length: int | None) -> None:
        self._make = make
        self._length = length

    @staticmethod
    def from_tensor_slices(tensors: Any) -> Dataset:
        """One element per index of the first axis; tuples and dicts of arrays keep their structure."""
        arrays = _map_structure(np.asarray, tensors)
        lengths = {len(a) for a in _flatten(arrays)}
        if len(lengths) != 1:
            raise ValueError(
                f"Dataset.from_tensor_slices: the arrays differ in their first axis: {sorted(lengths)}"
            )
        (count,) = lengths

        def make() -> Iterator[Element]:
            for i in range(count):
                yield _map_structure(lambda a, i=i: a[i], arrays)

        return Dataset(make, count)

    @staticmethod
    def from_generator(generator: Callable[[], Iterator[Element]]) -> Dataset:
        return Dataset(generator, None)

    def __iter__(self) -> Iterator[Element]:
        return self._make()

    def __len__(self) -> int:
        if self._length is None:
            raise TypeError("this Dataset's length is unknown (it repeats forever or comes from a generator)")
        return self._length

    def cardinality(self) -> int:
        """The element count, or -1 for an infinite or unknown one (tf.data's INFINITE/UNKNOWN)."""
        return -1 if self._length is None else self._length

    def shuffle(
        self, buffer_size: int, seed: int | None = None, reshuffle_each_iteration: bool = True
    ) -> Dataset:
        """tf.data's buffered shuffle: a buffer of buffer_size elements, each output a random one of it."""
        if buffer_size < 1:
            raise ValueError(f"Dataset.shuffle: buffer_size must be >= 1, got {buffer_size}")
        state = {"rng": np.random.default_rng(seed)}

        def make() -> Iterator[Element]:
            rng = state["rng"] if reshuffle_each_iteration else np.random.default_rng(seed)
            buffer: list[Element] = []
            for element in self:
                buffer.append(element)
                if len(buffer) >= buffer_size:
                    yield buffer.pop(int(rng.integers(len(buffer))))
            while buffer:
                yield buffer.pop(int(rng.integers(len(buffer))))

        return Dataset(make, self._length)

    def batch(self, batch_size: int, drop_remainder: bool = False) -> Dataset:
        if batch_size < 1:
            raise ValueError(f"Dataset.batch: batch_size must be >= 1, got {batch_size}")

        def make() -> Iterator[Element]:
            group: list[Element] = []
            for element in self:
                group.append(element)
                if len(group) == batch_size:
                    yield _stack(group)
                    group = []
            if group and not drop_remainder:
                yield _stack(group)

        length = (
            None
            if self._length is None
            else (self._length // batch_size if drop_remainder else -(-self._length // batch_size))
        )
        return Dataset(make, length)

    def map(self, fn: Callable[..., Element], num_parallel_calls: Any = None) -> Dataset:
        """fn on each element; a tuple element is passed as separate arguments, as tf.data does."""

        def make() -> Iterator[Element]:
            for element in self:
                yield fn(*element) if isinstance(element, tuple) else fn(element)

        return Dataset(make, self._length)

    def repeat(self, count: int | None = None) -> Dataset:
        def make() -> Iterator[Element]:
            done = 0
            while count is None or count < 0 or done < count:
                yield from self
                done += 1

        finite = count is not None and count >= 0 and self._length is not None
        return Dataset(make, self._length * count if finite else None)

    def take(self, count: int) -> Dataset:
        def make() -> Iterator[Element]:
            for index, element in enumerate(self):
                if index >= count:
                    return
                yield element

        length = count if self._length is None else min(count, self._length)
        return Dataset(make, length)

    def skip(self, count: int) -> Dataset:
        def make() -> Iterator[Element]:
            for index, element in enumerate(self):
                if index >= count:
                    yield element

        return Dataset(make, None if self._length is None else max(self._length - count, 0))

    def prefetch(self, buffer_size: Any = None) -> Dataset:
        """Accepted for tf.data scripts: fit already prepares batches ahead on a background thread."""
        return self

    def as_numpy_iterator(self) -> Iterator[Element]:
        return iter(self)


AUTOTUNE = -1


def _map_structure(fn: Callable[[Any], Any], value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_map_structure(fn, v) for v in value)
    if isinstance(value, dict):
        return {k: _map_structure(fn, v) for k, v in value.items()}
    return fn(value)


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, tuple):
        return [leaf for v in value for leaf in _flatten(v)]
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _flatten(v)]
    return [value]


def _stack(group: list[Element]) -> Element:
    first = group[0]
    if isinstance(first, tuple):
        return tuple(_stack([element[i] for element in group]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack([element[k] for element in group]) for k in first}
    return np.stack([np.asarray(element) for element in group])
