"""Loading a compiled shared library and calling its programs through ctypes."""

from __future__ import annotations

import _ctypes
import ctypes
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from graphc_runtime.buffers import aligned_empty, aligned_zeros, data_address
from graphc_runtime.locks import ReadWriteLock
from graphc_runtime.manifest import check_manifest, manifest_path, read_manifest
from graphc_runtime.spec import ArgSpec
from graphc_runtime.store import StateStore
from graphc_runtime.threads import attach

_ENTRY_ARGTYPES = (ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)
SHAPE_CACHE = 64  # batch sizes whose concrete shapes are remembered per program
FIXED_OUTPUT_ELEMENTS = 1024  # outputs up to this size without a batch dim use a fixed buffer
FRAME_POOL = 8  # idle call frames kept per program (one per concurrently calling thread)
_PLAIN_SCALARS = frozenset({float, int, np.float32, np.float64})  # stored without np.asarray (~0.3 us each)


class _Frame:
    """What one native call writes besides its outputs: the argument array, scalar inputs, small
    fixed outputs and the workspace. Each call takes a frame of its own from the program's pool,
    so calls from several threads never share one (ctypes releases the GIL during the call)."""

    __slots__ = ("argv", "scalars", "fixed", "ws_batch", "ws_owner", "ws_address", "generation")

    def __init__(self, template: ctypes.Array, scalar_slots: list[int], fixed: list[tuple[int, ArgSpec]],
                 generation: int) -> None:
        self.argv = type(template)(*template)
        self.scalars = aligned_zeros((max(1, len(scalar_slots)),), np.float32)
        for j, slot in enumerate(scalar_slots):
            self.argv[slot] = self.scalars.ctypes.data + 4 * j
        self.fixed = []
        for slot, spec in fixed:
            buffer = aligned_zeros(spec.concrete(0), spec.dtype)
            self.argv[slot] = buffer.ctypes.data
            self.fixed.append((spec.name, buffer))
        self.ws_batch = 0
        self.ws_owner: np.ndarray | None = None
        self.ws_address = 0
        self.generation = generation

    def grow_workspace(self, batch: int, static: int, per_batch: int) -> None:
        nbytes = static + per_batch * batch
        if nbytes:
            self.ws_owner, self.ws_address = aligned_empty(nbytes)
        self.ws_batch = batch


class Program:
    """One entry point: `int32_t graphc_<name>(int64_t batch, void **args, void *workspace)`.

    Safe to call from several threads: each call runs in a frame of its own (argument array,
    scalar and small-output buffers, workspace) taken from a small pool, and holds the state
    store's lock for its native call, on the write side if the program updates states (a
    training step), else on the read side, so predicts run in parallel and training steps alone.
    Reading an array's address costs ~0.4 us (buffers.data_address), so scalar inputs
    (hyperparameters) are copied into the frame's scalar buffer, and small outputs without a
    batch dimension (losses, metrics) are written to the frame's fixed buffers and returned as copies.
    """

    def __init__(self, name: str, entry: Mapping[str, Any], cdll: ctypes.CDLL) -> None:
        self.name = name
        specs = [ArgSpec.from_dict(a) for a in entry["args"]]
        self.inputs = [s for s in specs if s.kind == "input"]
        self.states = [s for s in specs if s.kind == "state"]
        self.outputs = [s for s in specs if s.kind == "output"]
        self.updates_states = any(s.updated for s in self.states)
        self._cdll = cdll  # the code lives as long as some program refers to it
        self._fn = cdll[entry["symbol"]]
        self._fn.restype = ctypes.c_int32
        self._fn.argtypes = _ENTRY_ARGTYPES
        self._template = (ctypes.c_void_p * len(specs))()
        self._input_names = {s.name for s in self.inputs}
        # Float scalars (hyperparameters) go through the frame's scalar buffer; integer ones as arrays.
        scalar = [i for i, s in enumerate(self.inputs) if s.shape == () and s.dtype == "float32"]
        self._scalar_slots = scalar
        self._array_inputs = [i for i, s in enumerate(self.inputs) if i not in scalar]
        self._input_slots = self._array_inputs
        self._input_order = [self.inputs[i].name for i in self._array_inputs]
        self._input_dtypes = [np.dtype(self.inputs[i].dtype) for i in self._array_inputs]
        self._all_float_inputs = all(d == np.float32 for d in self._input_dtypes)
        self._scalar_order = [self.inputs[i].name for i in scalar]
        first_output = len(self.inputs) + len(self.states)
        self._output_slots = []
        self._output_order = []
        self._output_dtypes = []
        self._fixed_specs: list[tuple[int, ArgSpec]] = []
        for i, spec in enumerate(self.outputs):
            if spec.batch_axis is None and int(np.prod(spec.shape, dtype=np.int64)) <= FIXED_OUTPUT_ELEMENTS:
                self._fixed_specs.append((first_output + i, spec))
            else:
                self._output_slots.append(first_output + i)
                self._output_order.append(spec.name)
                self._output_dtypes.append(np.dtype(spec.dtype))
        self._all_output_names = [s.name for s in self.outputs]
        batched = [(i, self.inputs[k].batch_axis, len(self.inputs[k].shape))
                   for i, k in enumerate(self._array_inputs) if None in self.inputs[k].shape]
        self._batch_source = batched[0] if batched else None
        self._shapes: dict[int, tuple[list[tuple[int, ...]], list[tuple[int, ...]]]] = {}
        workspace = entry["workspace"]
        self._ws_static = int(workspace["static_bytes"])
        self._ws_per_batch = int(workspace["per_batch_bytes"])
        self._frames: list[_Frame] = []
        self._generation = 0
        self._lock: ReadWriteLock | None = None
        self._bound: list[np.ndarray] = []
        self._ready = not self.states

    def bind(self, store: StateStore) -> None:
        """Point every state argument at the store's live buffer; calls then hold the store's lock."""
        bound = []
        template = (ctypes.c_void_p * len(self._template))(*self._template)
        for slot, spec in enumerate(self.states, start=len(self.inputs)):
            if spec.name not in store:
                raise KeyError(f"program {self.name!r}: the state store has no state {spec.name!r}")
            buffer = store[spec.name]
            if buffer.shape != spec.concrete(0) or buffer.dtype != np.dtype(spec.dtype):
                raise ValueError(
                    f"program {self.name!r}: state {spec.name!r} expected {spec.dtype}{spec.concrete(0)}, "
                    f"store has {buffer.dtype}{buffer.shape}"
                )
            template[slot] = buffer.ctypes.data
            bound.append(buffer)
        self._template = template
        self._bound = bound
        self._lock = store.lock
        self._generation += 1  # frames made for the old buffers are dropped when they come back
        self._frames = []
        self._ready = True

    def __call__(self, batch: int | None = None, **inputs: Any) -> dict[str, np.ndarray]:
        if not self._ready:
            raise RuntimeError(f"program {self.name!r} has states; call Library.bind(store) first")
        if inputs.keys() != self._input_names:
            self._raise_for_names(inputs)
        if self._all_float_inputs:
            arrays = [np.asarray(inputs[name], dtype=np.float32, order="C") for name in self._input_order]
        else:
            arrays = [_as_input(self.name, name, inputs[name], dtype)
                      for name, dtype in zip(self._input_order, self._input_dtypes, strict=True)]
        if batch is None:
            batch = self._infer_batch(arrays)
        elif not isinstance(batch, (int, np.integer)) or isinstance(batch, bool):
            raise ValueError(f"program {self.name!r}: batch must be an int, got {batch!r}")
        if batch < 1:
            raise ValueError(f"program {self.name!r}: batch must be >= 1, got {batch}")
        in_shapes, out_shapes = self._shapes.get(batch) or self._concrete_shapes(batch)
        # Equal lengths by construction; the strict check costs ~0.2 us per call.
        for array, shape in zip(arrays, in_shapes, strict=False):
            if array.shape != shape:
                self._raise_for_shapes(arrays, in_shapes)
        try:
            frame = self._frames.pop()  # atomic under the GIL
        except IndexError:
            frame = _Frame(self._template, self._scalar_slots, self._fixed_specs, self._generation)
        try:
            return self._run(frame, batch, arrays, out_shapes, inputs)
        finally:
            if frame.generation == self._generation and len(self._frames) < FRAME_POOL:
                self._frames.append(frame)

    def _run(self, frame: _Frame, batch: int, arrays: list[np.ndarray], out_shapes: list[tuple[int, ...]],
             inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        argv = frame.argv
        scalars = frame.scalars
        for j, name in enumerate(self._scalar_order):
            value = inputs[name]
            if type(value) not in _PLAIN_SCALARS:
                value = np.asarray(value, dtype=np.float32)
                if value.shape != ():
                    raise ValueError(f"program {self.name!r}: input {name!r} expected shape (), "
                                     f"got {value.shape}")
            scalars[j] = value
        for slot, array in zip(self._input_slots, arrays, strict=False):
            argv[slot] = data_address(array)
        outputs = {}
        for slot, name, shape, dtype in zip(self._output_slots, self._output_order, out_shapes,
                                            self._output_dtypes, strict=False):
            out = np.empty(shape, dtype=dtype)
            argv[slot] = data_address(out)
            outputs[name] = out
        if batch > frame.ws_batch:
            frame.grow_workspace(batch, self._ws_static, self._ws_per_batch)
        lock = self._lock
        if lock is None:
            status = self._fn(batch, argv, frame.ws_address)
        elif self.updates_states:
            lock.acquire_write()
            try:
                status = self._fn(batch, argv, frame.ws_address)
            finally:
                lock.release_write()
        else:
            lock.acquire_read()
            try:
                status = self._fn(batch, argv, frame.ws_address)
            finally:
                lock.release_read()
        if status != 0:
            raise RuntimeError(f"program {self.name!r} failed with status {status} (batch {batch})")
        if frame.fixed:
            for name, buffer in frame.fixed:
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

    def __repr__(self) -> str:
        sig = ", ".join(f"{s.name}{s}" for s in self.inputs)
        return f"<Program {self.name}({sig}) -> {', '.join(s.name for s in self.outputs)}>"


def unload_when_unused(cdll: ctypes.CDLL, shutdown_symbol: str) -> None:
    """Unload the library once nothing can call it: the last Program or Library holding it is gone.

    Its worker pool is stopped and joined first (the workers run the library's code). The
    finalizer holds only addresses, never the library object, so it cannot keep it alive; at
    interpreter exit nothing is unloaded.
    """
    shutdown = ctypes.cast(cdll[shutdown_symbol], ctypes.c_void_p).value
    finalizer = weakref.finalize(cdll, _unload, cdll._handle, shutdown)
    finalizer.atexit = False


def _unload(handle: int, shutdown: int) -> None:
    ctypes.CFUNCTYPE(None)(shutdown)()
    _ctypes.dlclose(handle)


def _as_input(program: str, name: str, value: Any, dtype: np.dtype) -> np.ndarray:
    """An input in its manifest dtype; a fractional value for an integer input is refused, never cut."""
    if dtype.kind != "i":
        return np.asarray(value, dtype=dtype, order="C")
    array = np.asarray(value)
    if array.dtype.kind not in "iub":
        if array.dtype.kind != "f" or not np.array_equal(array, np.trunc(array)):
            raise ValueError(f"program {program!r}: input {name!r} holds integers ({dtype}); got values of "
                             f"dtype {array.dtype} that are not whole numbers")
    info = np.iinfo(dtype)
    if array.size and (array.min() < info.min or array.max() > info.max):
        raise ValueError(f"program {program!r}: input {name!r} has values outside the range of {dtype}")
    return np.asarray(array, dtype=dtype, order="C")


class Library:
    """A loaded shared library and the manifest describing its programs."""

    def __init__(self, cdll: ctypes.CDLL, manifest: dict[str, Any], path: Path) -> None:
        self.path = path
        self.manifest = manifest
        self._cdll = cdll
        try:
            self._pool = attach(cdll, manifest["pool"])
            unload_when_unused(cdll, manifest["pool"]["shutdown_pool"])
            self.programs: dict[str, Program] = {
                name: Program(name, entry, cdll) for name, entry in manifest["programs"].items()
            }
        except AttributeError as error:
            raise ValueError(f"{path.name} lacks a function its manifest names: {error}") from None

    @classmethod
    def load(cls, so_path: str | Path, manifest: dict[str, Any] | None = None) -> Library:
        """Load lib<name>.so; the manifest defaults to <name>.manifest.json next to it.

        Every graphc library loads this way, an in-process build or a `graphc compile` folder's.
        The dynamic loader caches libraries by path: code rebuilt into the same path is not
        reloaded within a process, so write each distinct build to its own path.
        """
        path = Path(so_path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no compiled library at {path}")
        if manifest is None:
            described = manifest_path(path)
            if not described.is_file():
                raise FileNotFoundError(f"no manifest for {path.name}: expected {described}")
            manifest = read_manifest(described)
        else:
            check_manifest(manifest, f"for {path.name}")
        if manifest["files"]["library"] != path.name:
            raise ValueError(f"the manifest for {path.name} describes {manifest['files']['library']!r}")
        return cls(ctypes.CDLL(str(path)), manifest, path)

    def function(self, symbol: str, restype: Any, argtypes: list[Any]) -> Any:
        """Another exported function of the library (an AOT build's C API), typed for ctypes."""
        fn = self._cdll[symbol]
        fn.restype, fn.argtypes = restype, argtypes
        return fn

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
