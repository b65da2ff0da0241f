"""tf.GradientTape for custom training loops: gradients computed by compiled native code.

Inside `with GradientTape() as tape:` model calls, loss objects, keras.ops, tf.* functions and
tensor arithmetic are recorded into one graph (frontend/recording.py). `tape.gradient` adds the
backward pass with graphc's autodiff and runs the whole as one compiled program, compiled the
first time its structure is seen and reused at the next steps (frontend/tape_programs.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from graphc.frontend.eager import EagerArray
from graphc.frontend.layers.base import Weight
from graphc.frontend.recording import Recording, Tensor, active_recording, pop_recording, push_recording
from graphc.ir.graph import Node

_UNCONNECTED = ("none", "zero")


class GradientTape:
    """Records what runs inside its `with` block; `gradient(target, sources)` differentiates it.

    As TensorFlow's: trainable weights a recorded call reads are watched automatically
    (`watch_accessed_variables`), other tensors through `watch`; a source the target does not
    depend on gets None; a non-persistent tape computes one set of gradients. Tapes opened inside
    an open tape (a GAN step's two tapes) share its recording. The program `gradient` runs is
    compiled once per recorded structure and reused at later steps (frontend/tape_programs.py).
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._recording: Recording | None = None
        self._watched: set[Node] = set()
        self._used = False

    def __enter__(self) -> GradientTape:
        if self._recording is None:
            self._recording = active_recording() or Recording()
        push_recording(self._recording)
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._recording is not None
        pop_recording(self._recording)

    def _open(self, what: str) -> Recording:
        if self._recording is None:
            raise RuntimeError(f"GradientTape.{what}: use the tape in a `with` block first")
        return self._recording

    def watch(self, tensor: Any) -> None:
        """Make `tensor` (a tf.constant / convert_to_tensor value, a weight, or a list of them) a source
        of gradients: its later uses on this tape are recorded."""
        recording = self._open("watch")
        for item in _flatten(tensor):
            if isinstance(item, Weight):
                self._watched.add(recording.weight_node(item))
            elif isinstance(item, Tensor):
                if item._recording is not recording:
                    node = recording.feed(item)
                    item._node, item._recording = node, recording
                self._watched.add(item._node)
            else:
                raise TypeError(f"GradientTape.watch takes tensors (tf.constant, tf.convert_to_tensor) and "
                                f"variables, got {type(item).__name__}")

    @contextlib.contextmanager
    def stop_recording(self) -> Iterator[None]:
        """Operations inside compute eagerly instead of being recorded."""
        recording = self._open("stop_recording")
        pop_recording(recording)
        try:
            yield
        finally:
            push_recording(recording)

    def reset(self) -> None:
        """Forget what was recorded (inside the `with` block: recording starts afresh)."""
        recording = self._open("reset")
        fresh = Recording()
        if active_recording() is recording:
            pop_recording(recording)
            push_recording(fresh)
        self._recording, self._watched, self._used = fresh, set(), False

    def watched_variables(self) -> list[Weight]:
        recording = self._open("watched_variables")
        return [weight for path, weight in recording.weights.items()
                if self._is_watched(recording.graph.states[path], weight)]

    def gradient(self, target: Any, sources: Any, output_gradients: Any = None,
                 unconnected_gradients: str = "none") -> Any:
        """d(target)/d(source) for each source, in the structure of `sources` (a weight, a tensor, or
        lists, tuples and dicts of them). A target with several values (or a list of targets) is
        summed first, as TensorFlow does."""
        recording = self._open("gradient")
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set of "
                               "gradients (or jacobians); create it with persistent=True to call gradient() "
                               "again")
        if unconnected_gradients not in _UNCONNECTED:
            raise ValueError(f"GradientTape.gradient: unconnected_gradients must be one of {_UNCONNECTED}, "
                             f"got {unconnected_gradients!r}")
        self._used = True
        targets = _flatten(target)
        given = None if output_gradients is None else _flatten(output_gradients)
        if given is not None and len(given) != len(targets):
            raise ValueError(f"GradientTape.gradient: {len(given)} output gradients for {len(targets)} "
                             "targets")
        loss = recording.target(targets, given)
        reached = recording.depends_on(loss)
        flat = _flatten(sources)
        nodes = [self._source_node(recording, source) for source in flat]
        wanted = list(dict.fromkeys(n for n in nodes if n is not None and n in reached))
        values = dict(zip(wanted, recording.run(loss, wanted), strict=True))
        results = []
        for source, node in zip(flat, nodes, strict=True):
            if node in values:
                results.append(np.array(values[node], dtype=np.float32).view(EagerArray))
            elif unconnected_gradients == "zero":
                results.append(np.zeros(tuple(source.shape), np.float32).view(EagerArray))
            else:
                results.append(None)
        return _unflatten(sources, iter(results))

    def _source_node(self, recording: Recording, source: Any) -> Node | None:
        """The node a source is, if this tape watches it; None gives a None gradient."""
        if isinstance(source, Weight):
            node = recording.graph.states.get(source.path)
            if node is None or recording.weights.get(source.path) is not source:
                return None
            return node if self._is_watched(node, source) else None
        if isinstance(source, Tensor):
            if source._recording is not recording:
                return None
            node = source._node
            assert node is not None
            return node if node.op != "input" or node in self._watched else None
        raise TypeError(f"GradientTape.gradient: sources must be variables or tensors, got "
                        f"{type(source).__name__}")

    def _is_watched(self, node: Node, weight: Weight) -> bool:
        return node in self._watched or (self.watch_accessed_variables and weight.trainable)

    def jacobian(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("GradientTape.jacobian is not supported by graphc; use gradient()")

    batch_jacobian = jacobian


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [item for element in value for item in _flatten(element)]
    if isinstance(value, dict):
        return [item for key in sorted(value) for item in _flatten(value[key])]
    return [value]


def _unflatten(structure: Any, items: Iterator[Any]) -> Any:
    if isinstance(structure, (list, tuple)):
        return type(structure)(_unflatten(element, items) for element in structure)
    if isinstance(structure, dict):
        return {key: _unflatten(structure[key], items) for key in sorted(structure)}
    return next(items)
