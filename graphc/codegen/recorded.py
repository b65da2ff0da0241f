"""A cache level above the IR cache: linked libraries keyed by the programs as recorded.

A hit skips the pass pipeline and IR emission as well as LLVM, which is what keeps a warm compile of
a model fast. The key is a fingerprint of each recorded graph (ops, inputs by position, attrs and
node meta including the exact bytes of constant arrays, the interface names), the pipeline level,
the target, the LLVM pipeline, the graphc version and a digest of graphc's own source, so that
editing a pass or a lowering without bumping the version cannot serve a stale library. Programs
holding a value the fingerprint cannot encode are simply not cached at this level.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import graphc
from graphc.codegen import build_library
from graphc.codegen import cache as disk_cache
from graphc.codegen.target import PIPELINE, target_spec
from graphc.ir.graph import Graph, Node
from graphc.ir.types import TensorType
from graphc.passes.pipeline import parse_level

LIBRARY, MANIFEST = ".rec.so", ".rec.json"
_PACKAGE = Path(graphc.__file__).parent


class _Unencodable(Exception):
    """A value in a graph that has no stable byte encoding."""


def fingerprint(graph: Graph) -> bytes:
    """The bytes that decide what `graph` compiles to; raises _Unencodable for opaque attrs."""
    position = {node: index for index, node in enumerate(graph.nodes)}
    out: list[bytes] = []
    for node in graph.nodes:
        out.append(_encode((node.op, node.name, tuple(position[n] for n in node.inputs)), position))
        out.append(_encode(node.attrs, position))
        out.append(_encode(node.type, position))
        out.append(_encode(node.meta, position))
    for table in (graph.inputs, graph.states, graph.outputs, graph.updates):
        out.append(_encode({name: node for name, node in table.items()}, position))
    return b"".join(out)


def _encode(value: Any, position: Mapping[Node, int]) -> bytes:
    if isinstance(value, Node):
        if value not in position:
            raise _Unencodable(f"node {value!r} from another graph")
        return b"N%d;" % position[value]
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.ascontiguousarray(value)
        head = f"A{array.dtype.str}{array.shape}:{array.nbytes};".encode()
        return head + array.tobytes()
    if isinstance(value, TensorType):
        return f"T{value.shape}{value.dtype};".encode()
    if value is None or isinstance(value, (bool, int, float, str)):
        text = repr(value)
        return f"{type(value).__name__}:{len(text)}:{text};".encode()
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__}{len(value)}(".encode() + b"".join(
            _encode(v, position) for v in value) + b")"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: repr(kv[0]))
        return f"D{len(items)}(".encode() + b"".join(
            _encode(k, position) + _encode(v, position) for k, v in items) + b")"
    raise _Unencodable(f"cannot fingerprint a {type(value).__name__}")


def recorded_key(recorded: Mapping[str, Graph], level: int | str, cpu: str | None = None) -> str | None:
    """The cache key of these recorded programs compiled at `level` for `cpu`, or None if unencodable."""
    spec = target_spec(cpu)
    parts = [graphc.__version__, disk_cache.source_digest(_PACKAGE), str(parse_level(level)), PIPELINE,
             spec.triple, spec.cpu, spec.features]
    try:
        for name, graph in recorded.items():
            parts += [name, fingerprint(graph)]
    except _Unencodable:
        return None
    return disk_cache.cache_key("recorded", *parts)


def build_recorded(
    recorded: Mapping[str, Graph], level: int | str, optimized: Callable[[], Mapping[str, Graph]],
    out_dir: str | Path, *, name: str = "model",
) -> Path:
    """Like build_library, but `optimized()` (the pipeline) runs only when the recorded programs miss."""
    out = Path(out_dir)
    so_path, manifest_path = out / f"lib{name}.so", out / f"{name}.manifest.json"
    key = recorded_key(recorded, level) if disk_cache.cache_dir() is not None else None
    if key is not None:
        library, manifest = disk_cache.load(key, LIBRARY), disk_cache.load(key, MANIFEST)
        if library is not None and manifest is not None:
            out.mkdir(parents=True, exist_ok=True)
            so_path.write_bytes(library)
            manifest_path.write_bytes(manifest)
            return so_path
    built = build_library(optimized(), out, name=name)
    if key is not None:
        disk_cache.store(key, LIBRARY, built.read_bytes())
        disk_cache.store(key, MANIFEST, manifest_path.read_bytes())
    return built
