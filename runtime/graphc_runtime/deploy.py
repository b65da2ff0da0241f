"""Running an ahead-of-time build (a `graphc compile` folder) from Python with numpy alone.

The library loads through graphc_runtime.Library, as every graphc library does (its programs
are there too, `model.library["predict"]`, with the in-process calling convention), and the
calls below go through the library's C API, the same functions a C program uses, so the
argument checks and status codes are those of the header. The manifest is not trusted: the
files it names must lie in its folder, and its shapes, parameters and workspace sizes must
equal the description the library embeds (`<name>_describe()`). A DeployedModel is safe to
use from several threads: predicts run together, each with a workspace of its own (the C
API's predict_with_workspace), while training steps and weight or hyperparameter writes run
alone, as the header's thread contract asks. A stateful model (recurrent layers with
stateful=True) carries its layers' states from call to call in the context, so its predicts
write too and run alone, one at a time, in the order they take the lock; reset_states() zeroes
the states as Keras's model.reset_states() does.
"""

from __future__ import annotations

import ctypes
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from graphc_runtime.buffers import aligned_empty
from graphc_runtime.library import Library
from graphc_runtime.locks import ReadWriteLock
from graphc_runtime.manifest import API_FIELDS, read_manifest

_F32P = ctypes.POINTER(ctypes.c_float)
_I64 = ctypes.c_int64
_I32 = ctypes.c_int32
BAD_LABEL = 12
WORKSPACE_POOL = 8


class DeployError(RuntimeError):
    """The library returned a status other than GRAPHC_MODEL_OK."""


class DeployedModel:
    """An AOT-compiled model loaded from its folder: predict, and with training, train_step.

    weights: a weights file to start from (this build's `<name>.weights` format); by default
    the embedded weights, or the folder's weights file when the build has no embedded ones.
    """

    def __init__(self, folder: str | Path, weights: str | Path | None = None) -> None:
        self.manifest_path = _find_manifest(Path(folder))
        self.directory = self.manifest_path.parent
        manifest = read_manifest(self.manifest_path)
        missing = [key for key in (*API_FIELDS, "status_codes") if key not in manifest]
        if missing and "status_codes" in manifest:
            raise ValueError(f"{self.manifest_path} has no {missing[0]!r}: it was built by an older graphc; "
                             "rebuild it with `graphc compile`")
        if missing:
            raise ValueError(f"{self.manifest_path} describes no C API (no {missing[0]!r}): it is an "
                             "in-process library, not a `graphc compile` build; load it with "
                             "graphc_runtime.Library")
        self.manifest = manifest
        name = manifest.get("name")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{self.manifest_path}: 'name' must be a C identifier, got {name!r}")
        self.name: str = name
        (self._input,) = manifest["inputs"]
        (self._output,) = manifest["outputs"]
        self.input_shape = tuple(self._input["shape"])
        self.output_shape = tuple(self._output["shape"])
        self.params = [(p["name"], tuple(p["shape"])) for p in manifest["params"]]
        self.training = manifest.get("training")
        self.stateful_batch_size = _stateful_batch_size(manifest.get("stateful"), self.manifest_path)
        codes = manifest["status_codes"].items()
        self._status = {int(code): f"{name} ({text})" for code, (name, text) in codes}
        self.library = Library.load(self._inside("library"), manifest)
        self._bind()
        self._check_description()
        if weights is None and manifest["weights"]["mode"] == "file":
            weights = self._inside("weights")
        self._lock = ReadWriteLock()
        self._workspaces: list[tuple[np.ndarray, int, int]] = []  # (owner, address, bytes)
        handle = ctypes.c_void_p()
        path = None if weights is None else str(weights).encode()
        self._check(self._api["create"](path, ctypes.byref(handle)), "create")
        self._ctx = handle

    def _inside(self, role: str) -> Path:
        """A file the manifest names, which must be a plain name in the manifest's own folder."""
        name = (self.manifest.get("files") or {}).get(role)
        if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
            raise DeployError(f"{self.manifest_path}: files.{role} must be a file name in {self.directory}, "
                              f"got {name!r}")
        path = (self.directory / name).resolve()
        if path.parent != self.directory.resolve():
            raise DeployError(f"{self.manifest_path}: files.{role} {name!r} leads out of {self.directory}")
        return path

    def _check_description(self) -> None:
        """The manifest must say what the library says of itself; the library is the authority."""
        described = json.loads(self._api["describe"]().decode())
        for key in API_FIELDS:
            difference = _first_difference(described.get(key), self.manifest.get(key), key)
            if difference is not None:
                where, expected, actual = difference
                raise DeployError(f"{self.manifest_path} does not match its library "
                                  f"{self.library.path.name}: {where} is {actual!r} in the manifest, "
                                  f"the library says {expected!r}")

    def _bind(self) -> None:
        signatures = {
            "create": (_I32, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]),
            "destroy": (None, [ctypes.c_void_p]),
            "predict": (_I32, [ctypes.c_void_p, _I64, _F32P, _I64, _F32P, _I64]),
            "predict_with_workspace": (_I32, [ctypes.c_void_p, _I64, _F32P, _I64, _F32P, _I64,
                                              ctypes.c_void_p, _I64]),
            "describe": (ctypes.c_char_p, []),
            "reset_states": (_I32, [ctypes.c_void_p]),
            "train_step": (_I32, [ctypes.c_void_p, _I64, _F32P, _I64, _F32P, _I64, _F32P, _I64]),
            "get_param": (_I32, [ctypes.c_void_p, _I32, _F32P, _I64]),
            "set_param": (_I32, [ctypes.c_void_p, _I32, _F32P, _I64]),
            "set_hyperparameter": (_I32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_float]),
            "get_hyperparameter": (_I32, [ctypes.c_void_p, ctypes.c_char_p, _F32P]),
        }
        self._api = {}
        for suffix, (restype, argtypes) in signatures.items():
            try:
                self._api[suffix] = self.library.function(f"{self.name}_{suffix}", restype, argtypes)
            except AttributeError:
                raise DeployError(f"{self.library.path.name} has no function {self.name}_{suffix}: it is not "
                                  "this manifest's library, or was built by an older graphc; rebuild it with "
                                  "`graphc compile`") from None

    def _check(self, status: int, what: str) -> None:
        if status != 0:
            raise DeployError(f"{self.name}_{what} failed: status {status} "
                              f"{self._status.get(status, '(unknown status)')}")

    def _live(self) -> ctypes.c_void_p:
        if self._ctx is None:
            raise RuntimeError(f"model {self.name!r} is closed")
        return self._ctx

    # -- running ------------------------------------------------------------------------------
    def predict(self, x: Any) -> np.ndarray:
        """Predictions for a batch x of shape (N, *sample shape); one native call. A stateful model
        continues from the states the previous call left (N must be its declared batch size)."""
        x = _batch(x, self.input_shape, "x")
        y = np.empty((len(x), *self.output_shape[1:]), dtype=np.float32)
        if self.stateful_batch_size is not None:  # predict writes the carried states: alone
            self._check_stateful_batch(len(x))
            with self._lock.writing():
                status = self._api["predict"](self._live(), len(x), _ptr(x), x.size, _ptr(y), y.size)
            self._check(status, "predict")
            return y
        need = self._workspace_bytes(len(x))
        workspace = self._take_workspace(need)
        try:
            with self._lock.reading():
                status = self._api["predict_with_workspace"](self._live(), len(x), _ptr(x), x.size, _ptr(y),
                                                            y.size, workspace[1] or None, need)
        finally:
            if len(self._workspaces) < WORKSPACE_POOL:
                self._workspaces.append(workspace)
        self._check(status, "predict")
        return y

    def _workspace_bytes(self, batch: int) -> int:
        sizes = self.manifest["workspace"]  # checked against the library's own description
        return int(sizes["static_bytes"]) + int(sizes["per_batch_bytes"]) * batch

    def _take_workspace(self, need: int) -> tuple[np.ndarray, int, int]:
        """A 64-byte aligned workspace of at least `need` bytes, private to this call."""
        try:
            workspace = self._workspaces.pop()  # atomic under the GIL
        except IndexError:
            workspace = (np.empty(0, np.uint8), 0, 0)
        if workspace[2] < need:
            owner, address = aligned_empty(need)
            workspace = (owner, address, need)
        return workspace

    def train_step(self, x: Any, y: Any) -> dict[str, float]:
        """One optimizer step on (x, y); returns the loss and metrics of the batch."""
        if not self.training:
            raise RuntimeError(f"model {self.name!r} was compiled without --with-training")
        x = _batch(x, self.input_shape, "x")
        labels = tuple(self.training["labels"]["shape"])
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == len(labels) - 1 and labels[-1] == 1:
            y = y[..., None]
        y = _batch(y, labels, "y")
        if len(y) != len(x):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        self._check_stateful_batch(len(x))
        logs = np.zeros(len(self.training["logs"]), dtype=np.float32)
        with self._lock.writing():
            status = self._api["train_step"](self._live(), len(x), _ptr(x), x.size, _ptr(y), y.size,
                                            _ptr(logs), logs.size)
        if status == BAD_LABEL:
            self._raise_bad_label(y)
        self._check(status, "train_step")
        return {name: float(v) for name, v in zip(self.training["logs"], logs, strict=True)}

    def reset_states(self) -> None:
        """Zero the states a stateful model carries from call to call (Keras's model.reset_states());
        nothing to do for a model without stateful layers."""
        with self._lock.writing():
            self._check(self._api["reset_states"](self._live()), "reset_states")

    def _check_stateful_batch(self, batch: int) -> None:
        declared = self.stateful_batch_size
        if declared is not None and batch != declared:
            raise ValueError(f"model {self.name!r} is stateful with batch size {declared}: every batch must "
                             f"hold {declared} samples, got {batch}")

    def _raise_bad_label(self, y: np.ndarray) -> None:
        sparse = len(self.training["labels"]["shape"]) < len(self.output_shape)
        classes = self.output_shape[-1] if sparse else 0
        bad = ~np.isfinite(y)
        if classes:
            bad |= ~((y >= 0) & (y < classes) & (np.trunc(y) == y))
        position = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.any() else ()
        rule = f"class indices in [0, {classes})" if classes else "finite numbers"
        value = y[position] if position else float("nan")
        raise ValueError(f"{self.name}_train_step: labels must be {rule}; received a label value of "
                         f"{value:g} at position {position[0] if len(position) == 1 else position}")

    # -- parameters ---------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        out = []
        with self._lock.reading():
            for index, (_, shape) in enumerate(self.params):
                value = np.empty(shape, dtype=np.float32)
                self._check(self._api["get_param"](self._live(), index, _ptr(value), value.size), "get_param")
                out.append(value)
        return out

    def set_weights(self, weights: list[Any]) -> None:
        if len(weights) != len(self.params):
            raise ValueError(f"model {self.name!r} has {len(self.params)} parameters, got {len(weights)} "
                             "arrays")
        arrays = []
        for (name, shape), value in zip(self.params, weights, strict=True):
            array = np.ascontiguousarray(value, dtype=np.float32)
            if array.shape != shape:
                raise ValueError(f"parameter {name!r}: expected shape {shape}, got {array.shape}")
            arrays.append(array)
        with self._lock.writing():
            for index, array in enumerate(arrays):
                self._check(self._api["set_param"](self._live(), index, _ptr(array), array.size), "set_param")

    def get_hyperparameter(self, name: str) -> float:
        value = ctypes.c_float()
        with self._lock.reading():
            status = self._api["get_hyperparameter"](self._live(), name.encode(), ctypes.byref(value))
        self._check(status, f"get_hyperparameter({name!r})")
        return float(value.value)

    def set_hyperparameter(self, name: str, value: float) -> None:
        if not math.isfinite(value):
            raise ValueError(f"hyperparameter {name!r} must be finite, got {value!r}")
        with self._lock.writing():
            status = self._api["set_hyperparameter"](self._live(), name.encode(), value)
        self._check(status, f"set_hyperparameter({name!r})")

    # -- lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        if getattr(self, "_ctx", None) is None:
            return
        with self._lock.writing():
            if self._ctx is not None:
                self._api["destroy"](self._ctx)
                self._ctx = None

    def __enter__(self) -> DeployedModel:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        stateful = "" if self.stateful_batch_size is None else f", stateful batch {self.stateful_batch_size}"
        return (f"<DeployedModel {self.name} {self.input_shape} -> {self.output_shape}{stateful} "
                f"from {self.directory}>")


def load(folder: str | Path, weights: str | Path | None = None) -> DeployedModel:
    """Load a `graphc compile` output folder (or its manifest file)."""
    return DeployedModel(folder, weights)


def _first_difference(expected: Any, actual: Any, where: str) -> tuple[str, Any, Any] | None:
    """The first place where two JSON values differ, as (path, expected, actual)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(expected.keys() | actual.keys()):
            found = _first_difference(expected.get(key), actual.get(key), f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (a, b) in enumerate(zip(expected, actual, strict=True)):
            found = _first_difference(a, b, f"{where}[{index}]")
            if found:
                return found
        return None
    return None if expected == actual and type(expected) is type(actual) else (where, expected, actual)


def _stateful_batch_size(stateful: Any, where: Path) -> int | None:
    """The declared batch size of a stateful build (None for another), from the manifest's "stateful"
    field: null, or {"batch_size": B, "states": [{"name": ..., "shape": [B, width]}, ...]}. Checked
    here before the library loads, and against the library's own description after."""
    if stateful is None:
        return None
    batch = stateful.get("batch_size") if isinstance(stateful, dict) else None
    states = stateful.get("states") if isinstance(stateful, dict) else None
    if not _positive_int(batch) or not isinstance(states, list) or not states:
        raise ValueError(f"{where}: 'stateful' must be null or {{'batch_size': a positive int, 'states': a "
                         f"non-empty list}}, got {stateful!r}")
    for state in states:
        shape = state.get("shape") if isinstance(state, dict) else None
        if (not isinstance(shape, list) or not isinstance(state.get("name"), str) or len(shape) != 2
                or shape[0] != batch or not _positive_int(shape[1])):
            raise ValueError(f"{where}: each stateful state must be {{'name': str, 'shape': [{batch}, "
                             f"width]}}, got {state!r}")
    return int(batch)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _find_manifest(path: Path) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"no AOT build at {path}")
    found = sorted(path.glob("*.manifest.json"))
    if len(found) != 1:
        raise ValueError(f"{path} should hold exactly one *.manifest.json, found {[p.name for p in found]}")
    return found[0]


def _batch(value: Any, shape: tuple[int | None, ...], what: str) -> np.ndarray:
    raw = np.asarray(value)
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected real numbers, got dtype {raw.dtype}")
    array = np.ascontiguousarray(raw, dtype=np.float32)
    if array.ndim != len(shape) or array.shape[1:] != tuple(shape[1:]) or len(array) < 1:
        expected = ("N", *shape[1:])
        raise ValueError(f"{what}: expected shape {expected} with N >= 1, got {array.shape}")
    return array


def _ptr(array: np.ndarray) -> Any:
    return array.ctypes.data_as(_F32P)
