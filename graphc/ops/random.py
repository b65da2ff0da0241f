"""Counter-based random numbers: the same bits in numpy and in native code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphc.ir.affine import Sym, contiguous_strides
from graphc.ir.graph import Node
from graphc.ir.types import ShapeError, TensorType
from graphc.ops.registry import EvalContext, OpDef, OpKind, register

GOLDEN = 0x9E3779B9
STREAM_MIX = 0x85EBCA77
MIX1 = 0x85EBCA6B
MIX2 = 0xC2B2AE35


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finalizer: a bijection on uint32 with good avalanche."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(MIX1)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(MIX2)
    return h ^ (h >> np.uint32(16))


def stream_key(seed: int, stream: int) -> int:
    """The 32-bit key of a 64-bit seed (both halves count: the counter never repeats a key early)."""
    low, high = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    high_mix = int(fmix32(np.array([(high + GOLDEN) & 0xFFFFFFFF], dtype=np.uint32))[0])
    return int(fmix32(np.array([(low * GOLDEN + stream * STREAM_MIX + high_mix) & 0xFFFFFFFF],
                               dtype=np.uint32))[0])


def uniform_bits(seed: int, stream: int, count: int) -> np.ndarray:
    """uint32 hash of each element index under the key (seed, stream)."""
    index = np.arange(count, dtype=np.uint32)
    return fmix32(index * np.uint32(GOLDEN) + np.uint32(stream_key(seed, stream)))


def _infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (seed,) = types
    if seed.shape != () or seed.dtype != "int64":
        raise ShapeError(f"random_uniform seed must be an int64 scalar (a step counter), got {seed}")
    return TensorType(tuple(attrs["shape"]), "float32")


def _reference(attrs: Mapping[str, Any], ctx: EvalContext, seed: np.ndarray) -> np.ndarray:
    shape = TensorType(tuple(attrs["shape"])).concrete(ctx.batch)
    count = int(np.prod(shape))
    bits = uniform_bits(int(seed) & 0xFFFFFFFFFFFFFFFF, attrs["stream"], count)
    return ((bits >> np.uint32(8)).astype(np.float64) * 2.0**-24).astype(ctx.dtype).reshape(shape)


def _flat_index(node: Node) -> list[tuple[Sym, ...]]:
    """The element counter the hash takes: the flat row-major index."""
    return [contiguous_strides(node.shape)]


RANDOM_UNIFORM = register(
    OpDef("random_uniform", OpKind.RANDOM, 1, _infer, _reference, None,
          "uniform [0,1) in steps of 2**-24 from fmix32(index*golden + key(int64 seed, stream))",
          index_streams=_flat_index)
)
