"""A model's compiled programs and the runtime state they share."""

from __future__ import annotations

import shutil
import tempfile
import threading
import warnings
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, wait
from pathlib import Path

import numpy as np
from graphc_runtime import ArgSpec, Library, Program, StateStore

from graphc.codegen.recorded import build_recorded
from graphc.frontend.layers.base import RNG_STATE, Weight
from graphc.frontend.programs import ProgramSet


class CompiledModel:
    """A model's programs and the state they share; each program compiles on its first call.

    As Keras builds its train, test and predict functions when first needed, a first
    train_on_batch compiles the training step alone (predict and eval were a third of the
    work). Each program becomes its own native library; all bind to one state store, made up
    front from the states the programs declare, so weights keep their values whichever
    program runs first: binding copies each weight's value into its runtime buffer, which
    then becomes the weight's storage. A weight already stored by another compiled model (a
    shared layer, or this model before a recompile) lends that buffer instead, and the stores
    share one lock: every model holding the layer trains and reads one value, as in Keras.
    A small program's first build is tiered (codegen.build_tiered), and so are a large inference
    program's short kernels: the quickly compiled library serves until the optimized one is
    linked, then `program` hands out that one (same results).
    """

    def __init__(self, programs: ProgramSet, weights: Sequence[Weight], name: str) -> None:
        self.directory = _Folder()
        self._programs = programs
        self._name = _safe(name)
        self._libraries: dict[str, Library] = {}
        self._finals: dict[str, Future[Path]] = {}  # tiered builds' optimized libraries, until swapped in
        self._compiling = threading.Lock()
        declared = [ArgSpec("state", state, tuple(node.shape), node.type.dtype)
                    for graph in programs.recorded.values() for state, node in graph.states.items()]
        # the dropout counter, also for the programs recorded later (model(x, training=True))
        declared.append(ArgSpec("state", RNG_STATE, (), "int64"))
        self.store = StateStore(declared)
        for state_name, value in programs.initial_values.items():
            if state_name in self.store:
                self.store[state_name][...] = value
        shared = next((w.lock for w in weights if w.lock is not None and w.path in self.store), None)
        if shared is not None:  # layers compiled in another model too: one lock over the shared values
            self.store.share_lock(shared)
        for weight in weights:
            if weight.path in self.store:
                weight.bind(self.store)
        self.hyperparameter_inputs = programs.hyperparameter_inputs

    def load_states(self, values: Mapping[str, np.ndarray]) -> list[str]:
        """Copy values into the states of the same names; returns the names that are not states."""
        unused = []
        for name, value in values.items():
            if name in self.store:
                self.store.assign(name, value)
            else:
                unused.append(name)
        return unused

    def program(self, name: str) -> Program:
        library = self._libraries.get(name)
        if library is None:
            with self._compiling:  # two threads' first calls compile once
                library = self._libraries.get(name) or self._compile(name)
                self._libraries[name] = library
        final = self._finals.get(name)
        if final is not None and final.done() and self._compiling.acquire(blocking=False):
            try:  # (a compile under way elsewhere: the swap waits for a later call, not this one)
                library = self._swap(name)
            finally:
                self._compiling.release()
        return library.programs[name]

    def finish_builds(self) -> None:
        """Wait for the tiered builds under way and swap their libraries in (their cache entries are
        then stored too): for tests and benchmarks that need the settled state."""
        for name, final in list(self._finals.items()):
            wait([final])
            with self._compiling:
                self._swap(name)

    def _swap(self, name: str) -> Library:
        """The tiered build's final library in place of the first (same results, faster code); the
        caller holds `_compiling`."""
        final = self._finals.pop(name, None)
        if final is not None:
            try:
                library = Library.load(final.result())
            except Exception as error:  # noqa: BLE001 - the first library keeps serving
                warnings.warn(f"graphc: the optimized build of {self._name}.{name} failed ({error}); "
                              "its first build keeps running", RuntimeWarning, stacklevel=4)
            else:
                library.bind(self.store)
                self._libraries[name] = library
        return self._libraries[name]

    def has(self, name: str) -> bool:
        return self._programs.has(name)

    def compiled(self) -> list[str]:
        """The programs compiled so far, in the order they were first called."""
        return list(self._libraries)

    def state_names(self, program: str) -> list[str]:
        """The states `program` reads or updates, in its argument order, without compiling it."""
        return list(self._programs.program(program).states)

    def input_names(self, program: str) -> list[str]:
        return list(self._programs.program(program).inputs)

    def _compile(self, name: str) -> Library:
        if not self._programs.has(name):
            known = sorted([*self._programs.recorded, *self._programs.deferred])
            raise KeyError(f"model {self._name!r} has no program {name!r}; it has {known}")
        built = build_recorded({name: self._programs.program(name)}, self._programs.level,
                               lambda: {name: self._programs.pipeline(name).graph}, self.directory,
                               name=f"{self._name}_{name}", tiered=True)
        library = Library.load(built.path)
        library.bind(self.store)
        if built.final is not None:
            self._finals[name] = built.final
        return library


class _Folder:
    """A model's temporary folder, removed once nothing holds it: the model, or a background build still
    linking the model's optimized library into it (a dropped model's folder, removed under that build,
    was made again by its link and left behind)."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="graphc-")
        weakref.finalize(self, shutil.rmtree, self.path, True)

    def __fspath__(self) -> str:
        return self.path


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name) or "model"
