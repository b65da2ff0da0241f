"""A model's compiled programs and the runtime state they share."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence

import numpy as np
from graphc_runtime import Library, Program, StateStore

from graphc.codegen.recorded import build_recorded
from graphc.frontend.layers.base import Weight
from graphc.frontend.programs import ProgramSet


class CompiledModel:
    """Compiles a ProgramSet into one native library and binds the weights to its state.

    Weights keep their values across recompilation: binding copies each value into the
    new runtime buffer, which then becomes the weight's storage.
    """

    def __init__(self, programs: ProgramSet, weights: Sequence[Weight], name: str) -> None:
        self.directory = tempfile.mkdtemp(prefix="graphc-")
        weakref.finalize(self, shutil.rmtree, self.directory, True)
        library_path = build_recorded(programs.recorded, programs.level, lambda: programs.graphs,
                                      self.directory, name=_safe(name))
        self.library = Library.load(library_path)
        specs = {spec.name: spec for program in self.library.programs.values() for spec in program.states}
        self.store = StateStore(specs.values())
        for state_name, value in programs.initial_values.items():
            if state_name in specs:
                self.store[state_name][...] = value
        for weight in weights:
            if weight.path in specs:
                weight.bind(self.store[weight.path])
        self.library.bind(self.store)
        self.hyperparameter_inputs = programs.hyperparameter_inputs

    def load_states(self, values: Mapping[str, np.ndarray]) -> list[str]:
        """Copy values into the states of the same names; returns the names that are not states."""
        unused = []
        for name, value in values.items():
            if name not in self.store.names():
                unused.append(name)
                continue
            target = self.store[name]
            if value.shape != target.shape:
                raise ValueError(f"state {name!r}: expected shape {target.shape}, got {value.shape}")
            target[...] = value
        return unused

    def program(self, name: str) -> Program:
        return self.library.programs[name]

    def has(self, name: str) -> bool:
        return name in self.library.programs


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name) or "model"
