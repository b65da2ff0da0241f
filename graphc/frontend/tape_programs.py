"""The compiled programs of GradientTape recordings, built once per recorded structure.

A custom training loop records the same structure at every step: the same model calls, loss and
operations on batches of the same sample shape (the batch axis is symbolic), with the same weights.
Arrays and tensors are fed; Python numbers are constants of the structure, so a number that changes
at every step compiles a program per value (as tf.function retraces): pass it as an array instead.
The cache key is the recorded forward program's fingerprint (codegen/recorded.py: ops, attributes,
constants, shapes, the interface; what decides the code), the gradients asked for (the target's and
sources' places in it) and the identity of the weights it reads, which the entry keeps alive so no
other weight can take their ids. A hit runs the compiled program; a miss builds the backward pass
(graphc's autodiff) on a copy of the recording and compiles it (from the disk cache of recorded
programs when another process compiled it). The entries live with the first model the tape called,
so they go when the model goes.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc.codegen.recorded import recorded_key
from graphc.frontend.engine import CompiledModel
from graphc.frontend.layers.base import Weight
from graphc.frontend.programs import ProgramSet
from graphc.ir.graph import Graph, Node
from graphc.ir.rewrite import copy_in_order
from graphc.ops.autodiff import gradients
from graphc.passes import DEFAULT_LEVEL

PROGRAM = "tape"
ENTRIES_PER_OWNER = 16  # structures kept per model: a loop uses one or two (gradient, then values)


class _Unowned:
    """The owner of programs recorded without a model call (operations on watched tensors)."""


UNOWNED = _Unowned()
_CACHE: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[Any, ...], TapeProgram]] = (
    weakref.WeakKeyDictionary())
_LOCK = threading.Lock()


def gradient_name(index: int) -> str:
    return f"grad{index}"


class TapeProgram:
    """One recorded structure compiled with its backward pass, bound to the buffers of the weights
    it reads (shared with their models' programs, so it reads what fit and apply_gradients write)."""

    def __init__(self, graph: Graph, weights: Sequence[Weight], target: Node | None, sources: Sequence[Node],
                 name: str) -> None:
        program, mapping = copy_in_order(graph, graph.nodes)  # the recording grows on; this copy does not
        for node in program.nodes:
            node.meta.clear()  # recording-time notes (a softmax's logits) point into the recording
        if sources:
            assert target is not None
            for index, grad in enumerate(gradients(mapping[target], [mapping[s] for s in sources])):
                program.outputs[gradient_name(index)] = grad
        self.weights = list(weights)
        self._engine = CompiledModel(ProgramSet({PROGRAM: program}), self.weights, name)
        self._engine.program(PROGRAM)  # compiled now

    def __call__(self, batch: int, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._engine.program(PROGRAM)(batch, **feeds)  # a tiered build's final library once linked


def program_for(owner: Any, graph: Graph, weights: Sequence[Weight], target: Node | None = None,
                sources: Sequence[Node] = ()) -> TapeProgram:
    """The compiled program of `graph` (its current outputs) reading `weights` (one per state, in
    order) that also returns the gradients of `target` with respect to `sources` (`grad<i>`)."""
    name = f"{getattr(owner, 'name', 'tensors')}_tape"
    fingerprint = recorded_key({PROGRAM: graph}, DEFAULT_LEVEL)
    if fingerprint is None:  # a value without a stable encoding: no structure to key on
        return TapeProgram(graph, weights, target, sources, name)
    request = (None if target is None else target.id, tuple(source.id for source in sources))
    key = (fingerprint, request, tuple(id(weight) for weight in weights))
    with _LOCK:  # one compile per structure, also when two threads step at once
        entries = _CACHE.setdefault(owner, OrderedDict())
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = TapeProgram(graph, weights, target, sources, name)
            if len(entries) > ENTRIES_PER_OWNER:
                entries.popitem(last=False)
        else:
            entries.move_to_end(key)
        return entry
