"""Initial parameter values of an AOT build: read-only data in the object, or a side file.

Embedded: one LLVM global constant (64-byte aligned) holding every parameter as float32,
concatenated in parameter order. Side file: the same bytes after a 64-byte header
(magic, version, parameter count, float count, layout hash), read at context creation.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
from llvmlite import ir

from graphc.build.aot_source import StateInfo
from graphc.codegen.llvm_util import IR_LOCK
from graphc.codegen.target import TargetSpec, compile_ir

MAGIC = b"GRAPHCW1"
VERSION = 1
HEADER_BYTES = 64
_HEADER = struct.Struct("<8sQQQQ")


def layout_hash(params: Sequence[StateInfo]) -> int:
    """FNV-1a (64-bit) of "name:d0,d1;" per parameter: a weights file fits only its own layout."""
    text = "".join(f"{p.name}:{','.join(map(str, p.shape))};" for p in params)
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def weights_bytes(params: Sequence[StateInfo]) -> bytes:
    return b"".join(np.ascontiguousarray(p.value, dtype="<f4").tobytes() for p in params)


def weights_file(params: Sequence[StateInfo]) -> bytes:
    data = weights_bytes(params)
    header = _HEADER.pack(MAGIC, VERSION, len(params), len(data) // 4, layout_hash(params))
    return header.ljust(HEADER_BYTES, b"\0") + data


def weights_object(symbol: str, params: Sequence[StateInfo], spec: TargetSpec) -> bytes:
    """An object file defining `const unsigned char <symbol>[]` with the parameters' bytes."""
    data = weights_bytes(params)
    with IR_LOCK:
        module = ir.Module(name=symbol)
        module.triple = spec.triple
        array = ir.ArrayType(ir.IntType(8), max(len(data), 1))
        var = ir.GlobalVariable(module, array, symbol)
        var.global_constant = True
        var.align = 64
        var.initializer = ir.Constant(array, bytearray(data or b"\0"))
        text = str(module)
    return compile_ir(text, spec)
