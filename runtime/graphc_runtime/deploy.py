"""Running an ahead-of-time build (a `graphc compile` folder) from Python with numpy alone.

The calls go through the library's C API, the same functions a C program uses, so the
argument checks and status codes are those of the header.
"""

from __future__ import annotations

import ctypes
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "graphc-aot"
_F32P = ctypes.POINTER(ctypes.c_float)
_I64 = ctypes.c_int64
_I32 = ctypes.c_int32


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
        manifest = json.loads(self.manifest_path.read_text())
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError(f"{self.manifest_path} is not a graphc AOT manifest (format {FORMAT!r})")
        self.manifest = manifest
        self.name: str = manifest["name"]
        (self._input,) = manifest["inputs"]
        (self._output,) = manifest["outputs"]
        self.input_shape = tuple(self._input["shape"])
        self.output_shape = tuple(self._output["shape"])
        self.params = [(p["name"], tuple(p["shape"])) for p in manifest["params"]]
        self.training = manifest.get("training")
        codes = manifest["status_codes"].items()
        self._status = {int(code): f"{name} ({text})" for code, (name, text) in codes}
        self._lib = ctypes.CDLL(str(self.directory / manifest["files"]["library"]))
        self._bind()
        if weights is None and manifest["weights"]["mode"] == "file":
            weights = self.directory / manifest["files"]["weights"]
        handle = ctypes.c_void_p()
        path = None if weights is None else str(weights).encode()
        self._check(self._fn("create")(path, ctypes.byref(handle)), "create")
        self._ctx = handle

    def _fn(self, suffix: str) -> Any:
        return getattr(self._lib, f"{self.name}_{suffix}")

    def _bind(self) -> None:
        signatures = {
            "create": (_I32, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]),
            "destroy": (None, [ctypes.c_void_p]),
            "predict": (_I32, [ctypes.c_void_p, _I64, _F32P, _I64, _F32P, _I64]),
            "train_step": (_I32, [ctypes.c_void_p, _I64, _F32P, _I64, _F32P, _I64, _F32P, _I64]),
            "get_param": (_I32, [ctypes.c_void_p, _I32, _F32P, _I64]),
            "set_param": (_I32, [ctypes.c_void_p, _I32, _F32P, _I64]),
            "set_hyperparameter": (_I32, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_float]),
            "get_hyperparameter": (_I32, [ctypes.c_void_p, ctypes.c_char_p, _F32P]),
        }
        for suffix, (restype, argtypes) in signatures.items():
            fn = self._fn(suffix)
            fn.restype, fn.argtypes = restype, argtypes

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
        """Predictions for a batch x of shape (N, *sample shape); one native call."""
        x = _batch(x, self.input_shape, "x")
        y = np.empty((len(x), *self.output_shape[1:]), dtype=np.float32)
        status = self._fn("predict")(self._live(), len(x), _ptr(x), x.size, _ptr(y), y.size)
        self._check(status, "predict")
        return y

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
        logs = np.zeros(len(self.training["logs"]), dtype=np.float32)
        status = self._fn("train_step")(self._live(), len(x), _ptr(x), x.size, _ptr(y), y.size, _ptr(logs),
                                        logs.size)
        self._check(status, "train_step")
        return {name: float(v) for name, v in zip(self.training["logs"], logs, strict=True)}

    # -- parameters ---------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        out = []
        for index, (_, shape) in enumerate(self.params):
            value = np.empty(shape, dtype=np.float32)
            self._check(self._fn("get_param")(self._live(), index, _ptr(value), value.size), "get_param")
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
        for index, array in enumerate(arrays):
            self._check(self._fn("set_param")(self._live(), index, _ptr(array), array.size), "set_param")

    def get_hyperparameter(self, name: str) -> float:
        value = ctypes.c_float()
        self._check(self._fn("get_hyperparameter")(self._live(), name.encode(), ctypes.byref(value)),
                    f"get_hyperparameter({name!r})")
        return float(value.value)

    def set_hyperparameter(self, name: str, value: float) -> None:
        if not math.isfinite(value):
            raise ValueError(f"hyperparameter {name!r} must be finite, got {value!r}")
        self._check(self._fn("set_hyperparameter")(self._live(), name.encode(), value),
                    f"set_hyperparameter({name!r})")

    # -- lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        if getattr(self, "_ctx", None) is not None:
            self._fn("destroy")(self._ctx)
            self._ctx = None

    def __enter__(self) -> DeployedModel:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<DeployedModel {self.name} {self.input_shape} -> {self.output_shape} from {self.directory}>"


def load(folder: str | Path, weights: str | Path | None = None) -> DeployedModel:
    """Load a `graphc compile` output folder (or its manifest file)."""
    return DeployedModel(folder, weights)


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
    array = np.ascontiguousarray(value, dtype=np.float32)
    if array.ndim != len(shape) or array.shape[1:] != tuple(shape[1:]) or len(array) < 1:
        expected = ("N", *shape[1:])
        raise ValueError(f"{what}: expected shape {expected} with N >= 1, got {array.shape}")
    return array


def _ptr(array: np.ndarray) -> Any:
    return array.ctypes.data_as(_F32P)
