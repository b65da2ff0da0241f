"""Arrays that touch an inaccessible page: a kernel that reads one element past the end (or before
the start) of such an operand faults (SIGSEGV) instead of reading a neighbour's memory."""

from __future__ import annotations

import ctypes
import mmap

import numpy as np

PAGE = mmap.PAGESIZE
_PROT_NONE = 0
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_keep: list[mmap.mmap] = []  # guarded mappings live as long as the test process


def guarded(array: np.ndarray, at_end: bool = True) -> np.ndarray:
    """A copy of `array` (C-contiguous) that ends exactly where an inaccessible page begins (at_end),
    or starts exactly where one ends. Its start is 4-byte aligned only when at_end (as a slice of a
    caller's array may be)."""
    array = np.ascontiguousarray(array)
    nbytes = array.nbytes
    pages = -(-nbytes // PAGE)
    region = mmap.mmap(-1, (pages + 2) * PAGE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    _keep.append(region)
    base = ctypes.addressof(ctypes.c_char.from_buffer(region))
    for guard in (base, base + (pages + 1) * PAGE):
        if _libc.mprotect(guard, PAGE, _PROT_NONE) != 0:
            raise OSError(ctypes.get_errno(), "mprotect failed")
    offset = PAGE + (pages * PAGE - nbytes if at_end else 0)
    out = np.frombuffer(region, dtype=array.dtype, count=array.size, offset=offset).reshape(array.shape)
    out[...] = array
    return out
