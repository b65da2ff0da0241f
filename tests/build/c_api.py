"""The generated C API loaded with ctypes, every entry's argument types declared once (undeclared,
ctypes would pass 64-bit sizes and pointers as C ints)."""

from __future__ import annotations

import ctypes
from pathlib import Path

F32P = ctypes.POINTER(ctypes.c_float)
_I64, _PTR = ctypes.c_int64, ctypes.c_void_p
SIGNATURES: dict[str, list[type]] = {
    "create": [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)],
    "destroy": [_PTR],
    "predict": [_PTR, _I64, F32P, _I64, F32P, _I64],
    "predict_with_workspace": [_PTR, _I64, F32P, _I64, F32P, _I64, _PTR, _I64],
    "train_step": [_PTR, _I64, F32P, _I64, F32P, _I64, F32P, _I64],
    "get_param": [_PTR, ctypes.c_int32, F32P, _I64],
    "set_hyperparameter": [_PTR, ctypes.c_char_p, ctypes.c_float],
    "reset_states": [_PTR],
}


def c_api(library: Path, prefix: str) -> ctypes.CDLL:
    """The library with `<prefix>_<entry>`'s argument types set and status_string returning text."""
    lib = ctypes.CDLL(str(library))
    for entry, argtypes in SIGNATURES.items():
        getattr(lib, f"{prefix}_{entry}").argtypes = argtypes
    getattr(lib, f"{prefix}_status_string").restype = ctypes.c_char_p
    return lib
