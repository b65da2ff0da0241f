"""Loading a compiled shared library and calling its programs through ctypes."""

from __future__ import annotations

import ctypes
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from graphc_runtime.buffers import aligned_empty, aligned_zeros_f32, data_address
from graphc_runtime.spec import ArgSpec
from graphc_runtime.store import StateStore
from graphc_runtime.threads import attach

_ENTRY_ARGTYPES = (ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)
SHAPE_CACHE = 64  # batch sizes whose concrete shapes are remembered per program
FIXED_OUTPUT_ELEMENTS = 1024  # outputs up to this size without a batch dim use a fixed buffer
_PLAIN_SCALARS = frozenset({float, int, np.float32, np.float64})  # stored without np.asarray (~0.3 us each)


class Program:
    """One entry point: `int32_t graphc_<name>(int64_t batch, void **args, void *workspace)`.

    The argument array is built once; each call only patches the input, output and (when
    it grows) workspace pointers, then makes one native call. Reading an array's address
    costs ~0.4 us (buffers.data_address), so scalar inputs (hyperparameters) are copied into
    a buffer whose address is fixed, and small outputs without a batch dimension (losses,
    metrics) are written to fixed buffers and returned as copies.
    """

    def __init__(self, name: str, entry: Mapping[str, Any], cdll: ctypes.CDLL) -> None:
        self.name = name
        specs = [ArgSpec.from_dict(a) for a in entry["args"]]
        self.inputs = [s for s in specs if s.kind == "input"]
        self.states = [s for s in specs if s.kind == "state"]
        self.outputs = [s for s in specs if s.kind == "output"]
        self._cdll = cdll  # the code lives as long as some program refers to it
        self._fn = cdll[entry["symbol"]]
        self._fn.restype = ctypes.c_int32
        self._fn.argtypes = _ENTRY_ARGTYPES
        self._argv = (ctypes.c_void_p * len(specs))()
        self._input_names = {s.name for s in self.inputs}
        scalar = [i for i, s in enumerate(self.inputs) if s.shape == ()]
        self._array_inputs = [i for i, s in enumerate(self.inputs) if s.shape != ()]
        self._input_slots = self._array_inputs
        self._input_order = [self.inputs[i].name for i in self._array_inputs]
        self._scalar_order = [self.inputs[i].name for i in scalar]
        self._scalars = aligned_zeros_f32((max(1, len(scalar)),))
        for j, slot in enumerate(scalar):
            self._argv[slot] = self._scalars.ctypes.data + 4 * j
        first_output = len(self.inputs) + len(self.states)
        self._output_slots = []
        self._output_order = []
        self._fixed_outputs: list[tuple[str, np.ndarray]] = []
        for i, spec in enumerate(self.outputs):
            if spec.batch_axis is None and int(np.prod(spec.shape, dtype=np.int64)) <= FIXED_OUTPUT_ELEMENTS:
                buffer = aligned_zeros_f32(spec.concrete(0))
                self._argv[first_output + i] = buffer.ctypes.data
                self._fixed_outputs.append((spec.name, buffer))
            else:
                self._output_slots.append(first_output + i)
                self._output_order.append(spec.name)
        self._all_output_names = [s.name for s in self.outputs]
        batched = [(i, self.inputs[k].batch_axis, len(self.inputs[k].shape))
                   for i, k in enumerate(self._array_inputs) if None in self.inputs[k].shape]
        self._batch_source = batched[0] if batched else None
        self._shapes: dict[int, tuple[list[tuple[int, ...]], list[tuple[int, ...]]]] = {}
        workspace = entry["workspace"]
        self._ws_static = int(workspace["static_bytes"])
        self._ws_per_batch = int(workspace["per_batch_bytes"])
        self._ws_batch = 0
        self._ws_owner: np.ndarray | None = None
        self._ws_address = 0
        self._bound: list[np.ndarray] = []
        self._ready = not self.states

    def bind(self, store: StateStore) -> None:
        """Point every state argument at the store's live buffer."""
        bound = []
        for slot, spec in enumerate(self.states, start=len(self.inputs)):
            if spec.name not in store:
                raise KeyError(f"program {self.name!r}: the state store has no state {spec.name!r}")
            buffer = store[spec.name]
            if buffer.shape != spec.concrete(0):
                raise ValueError(
                    f"program {self.name!r}: state {spec.name!r} expected shape {spec.concrete(0)}, "
                    f"store has {buffer.shape}"
                )
            self._argv[slot] = buffer.ctypes.data
            bound.append(buffer)
        self._bound = bound
        self._ready = True

    def __call__(self, batch: int | None = None, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        if not self._ready:
            raise RuntimeError(f"program {self.name!r} has states; call Library.bind(store) first")
        if inputs.keys() != self._input_names:
            self._raise_for_names(inputs)
        arrays = [np.asarray(inputs[name], dtype=np.float32, order="C") for name in self._input_order]
        scalars = self._scalars
        for j, name in enumerate(self._scalar_order):
            value = inputs[name]
            if type(value) not in _PLAIN_SCALARS:
                value = np.asarray(value, dtype=np.float32)
                if value.shape != ():
                    raise ValueError(f"program {self.name!r}: input {name!r} expected shape (), "
                                     f"got {value.shape}")
            scalars[j] = value
        if batch is None:
            batch = self._infer_batch(arrays)
        elif not isinstance(batch, (int, np.integer)) or isinstance(batch, bool):
            raise ValueError(f"program {self.name!r}: batch must be an int, got {batch!r}")
        if batch < 1:
            raise ValueError(f"program {self.name!r}: batch must be >= 1, got {batch}")
        in_shapes, out_shapes = self._shapes.get(batch) or self._concrete_shapes(batch)
        argv = self._argv
        # Equal lengths by construction; the strict check costs ~0.2 us per call.
        for slot, array, shape in zip(self._input_slots, arrays, in_shapes, strict=False):
            if array.shape != shape:
                self._raise_for_shapes(arrays, in_shapes)
            argv[slot] = data_address(array)
        outputs = {}
        for slot, name, shape in zip(self._output_slots, self._output_order, out_shapes, strict=False):
            out = np.empty(shape, dtype=np.float32)
            argv[slot] = data_address(out)
            outputs[name] = out
        if batch > self._ws_batch:
            self._grow_workspace(batch)
        status = self._fn(batch, argv, self._ws_address)
        if status != 0:
            raise RuntimeError(f"program {self.name!r} failed with status {status} (batch {batch})")
        if self._fixed_outputs:
            for name, buffer in self._fixed_outputs:
                outputs[name] = buffer.copy()
            outputs = {name: outputs[name] for name in self._all_output_names}
        return outputs

    def _raise_for_shapes(self, arrays: list[np.ndarray], shapes: list[tuple[int, ...]]) -> None:
        for name, array, shape in zip(self._input_order, arrays, shapes, strict=True):
            if array.shape != shape:
                raise ValueError(f"program {self.name!r}: input {name!r} expected shape {shape}, "
                                 f"got {array.shape}")

    def _raise_for_names(self, inputs: Mapping[str, Any]) -> None:
        unknown = sorted(inputs.keys() - self._input_names)
        if unknown:
            known = sorted(self._input_names)
            raise ValueError(f"program {self.name!r}: unknown input {unknown[0]!r}; inputs are {known}")
        missing = sorted(self._input_names - inputs.keys())
        raise ValueError(f"program {self.name!r}: missing input {missing[0]!r}")

    def _infer_batch(self, arrays: list[np.ndarray]) -> int:
        """N from the first input with a batch dim (1 if none has one); a bad rank fails the shape check."""
        if self._batch_source is None:
            return 1
        index, axis, rank = self._batch_source
        array = arrays[index]
        return array.shape[axis] if array.ndim == rank else 1

    def _concrete_shapes(self, batch: int) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
        by_name = {s.name: s for s in self.inputs + self.outputs}
        shapes = ([by_name[n].concrete(batch) for n in self._input_order],
                  [by_name[n].concrete(batch) for n in self._output_order])
        if len(self._shapes) < SHAPE_CACHE:
            self._shapes[batch] = shapes
        return shapes

    def _grow_workspace(self, batch: int) -> None:
        nbytes = self._ws_static + self._ws_per_batch * batch
        if nbytes:
            self._ws_owner, self._ws_address = aligned_empty(nbytes)
        self._ws_batch = batch

    def __repr__(self) -> str:
        sig = ", ".join(f"{s.name}{s}" for s in self.inputs)
        return f"<Program {self.name}({sig}) -> {', '.join(s.name for s in self.outputs)}>"


class Library:
    """A loaded shared library and the manifest describing its programs."""

    def __init__(self, cdll: ctypes.CDLL, manifest: dict[str, Any], path: Path) -> None:
        self.path = path
        self.manifest = manifest
        self._cdll = cdll
        self._pool = attach(cdll)
        self.programs: dict[str, Program] = {
            name: Program(name, entry, cdll) for name, entry in manifest["programs"].items()
        }

    @classmethod
    def load(cls, so_path: str | Path, manifest: dict[str, Any] | None = None) -> Library:
        """Load lib<name>.so; the manifest defaults to <name>.manifest.json next to it.

        The dynamic loader caches libraries by path: code rebuilt into the same path is not
        reloaded within a process, so write each distinct build to its own path.
        """
        path = Path(so_path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no compiled library at {path}")
        if manifest is None:
            stem = path.name.removeprefix("lib").split(".so")[0]
            manifest_path = path.with_name(f"{stem}.manifest.json")
            if not manifest_path.is_file():
                raise FileNotFoundError(f"no manifest for {path.name}: expected {manifest_path}")
            manifest = json.loads(manifest_path.read_text())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("programs"), dict):
            raise ValueError(f"manifest for {path.name} has no 'programs' table")
        return cls(ctypes.CDLL(str(path)), manifest, path)

    def state_specs(self) -> list[ArgSpec]:
        """Every state any program uses (once per name), to build a StateStore from."""
        specs: dict[str, ArgSpec] = {}
        for program in self.programs.values():
            for spec in program.states:
                specs.setdefault(spec.name, spec)
        return list(specs.values())

    def bind(self, store: StateStore) -> None:
        for program in self.programs.values():
            program.bind(store)

    def __getitem__(self, name: str) -> Program:
        try:
            return self.programs[name]
        except KeyError:
            raise KeyError(f"no program {name!r} in {self.path.name}; have {sorted(self.programs)}") from None
