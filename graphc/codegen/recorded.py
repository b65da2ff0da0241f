"""A cache level above the IR cache: linked libraries keyed by the programs as recorded.

A hit skips the pass pipeline and IR emission as well as LLVM, which is what keeps a warm compile of
a model fast. The key is a fingerprint of each recorded graph (ops, inputs by position, attrs and
node meta including the exact bytes of constant arrays, the interface names, regions recursively), the
pipeline level, the target, the LLVM pipeline, the graphc version and a digest of the compiler's
source (COMPILER_PACKAGES), so that editing a pass or a lowering without bumping the version cannot
serve a stale library. Programs holding a value the fingerprint cannot encode are simply not cached
at this level.

State names are replaced by their positions in the key and in the stored manifest: they carry
layer auto-names (dense_7/kernel) that do not change the code, so forty identical models share
one entry. An entry read back is checked against the recorded programs (every argument's kind,
name, shape and dtype, the workspace sizes, the library's hash) before its library is written
out for loading; a mismatch evicts it and the programs are rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from graphc_runtime.manifest import check_manifest
from graphc_runtime.manifest import manifest_path as runtime_manifest_path

import graphc
from graphc.codegen import background, build_library, build_tiered, start_build
from graphc.codegen import cache as disk_cache
from graphc.codegen.target import PIPELINE, target_spec
from graphc.ir.graph import Graph, Node
from graphc.ir.types import BatchMultiple, TensorType, TupleType
from graphc.passes.pipeline import parse_level

LIBRARY, MANIFEST = ".rec.so", ".rec.json"
_PACKAGE = Path(graphc.__file__).parent
# What turns a recorded graph into a library: the pipeline, the op facts, the IR and code generation. The
# layering test (tests/test_layers.py) keeps them from importing anything above them, and what the
# frontend records is in the fingerprint; hashing only these sources halves a warm compile's reading.
COMPILER_PACKAGES = ("ir", "ops", "passes", "codegen")


class _Unencodable(Exception):
    """A value in a graph that has no stable byte encoding."""


def state_aliases(recorded: Mapping[str, Graph]) -> dict[str, str]:
    """Positional names for the states of these programs, in the order they are first declared."""
    aliases: dict[str, str] = {}
    for graph in recorded.values():
        for name in graph.states:
            aliases.setdefault(name, f"state{len(aliases)}")
    return aliases


def fingerprint(graph: Graph, aliases: Mapping[str, str] | None = None) -> bytes:
    """The bytes that decide what `graph` compiles to; raises _Unencodable for opaque attrs.

    Strings in `aliases` (state names) are encoded as their aliases.
    """
    aliases = aliases or {}
    position = {node: index for index, node in enumerate(graph.nodes)}
    out: list[bytes] = []
    for node in graph.nodes:
        out.append(_encode((node.op, node.name, tuple(position[n] for n in node.inputs)), position, aliases))
        out.append(_encode(node.attrs, position, aliases))
        out.append(_encode(node.type, position, aliases))
        out.append(_encode(node.meta, position, aliases))
    for table in (graph.inputs, graph.states, graph.outputs, graph.updates):
        out.append(_encode({name: node for name, node in table.items()}, position, aliases))
    return b"".join(out)


def _encode(value: Any, position: Mapping[Node, int], aliases: Mapping[str, str]) -> bytes:
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
    if isinstance(value, BatchMultiple):
        return f"B{value.k};".encode()
    if isinstance(value, TupleType):
        parts = b"".join(_encode(p, position, aliases) for p in value.parts)
        return f"U{len(value)}(".encode() + parts + b")"
    if isinstance(value, Graph):  # a region: its own nodes, positions and interface
        inner = fingerprint(value, aliases)
        return f"G{len(inner)}:".encode() + inner + b";"
    if isinstance(value, str):
        value = aliases.get(value, value)
    if value is None or isinstance(value, (bool, int, float, str)):
        text = repr(value)
        return f"{type(value).__name__}:{len(text)}:{text};".encode()
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__}{len(value)}(".encode() + b"".join(
            _encode(v, position, aliases) for v in value) + b")"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: repr(aliases.get(kv[0], kv[0])))
        return f"D{len(items)}(".encode() + b"".join(
            _encode(k, position, aliases) + _encode(v, position, aliases) for k, v in items) + b")"
    raise _Unencodable(f"cannot fingerprint a {type(value).__name__}")


def recorded_key(recorded: Mapping[str, Graph], level: int | str, cpu: str | None = None) -> str | None:
    """The cache key of these recorded programs compiled at `level` for `cpu`, or None if unencodable."""
    spec = target_spec(cpu)
    sources = disk_cache.source_digest(_PACKAGE, COMPILER_PACKAGES)
    parts = [graphc.__version__, sources, str(parse_level(level)), PIPELINE, *spec.as_dict().values()]
    aliases = state_aliases(recorded)
    try:
        for name, graph in recorded.items():
            parts += [name, fingerprint(graph, aliases)]
    except _Unencodable:
        return None
    return disk_cache.cache_key("recorded", *parts)


@dataclass(frozen=True)
class Built:
    """The library to load now and, after a tiered build, the Future of the one to swap in for it."""

    path: Path
    final: Future[Path] | None = None


def build_recorded(
    recorded: Mapping[str, Graph], level: int | str, optimized: Callable[[], Mapping[str, Graph]],
    out_dir: str | os.PathLike[str], *, name: str = "model", tiered: bool = False,
) -> Built:
    """Like build_library, but `optimized()` (the pipeline) runs only when the recorded programs miss;
    `tiered`: a miss builds with build_tiered, and the final library enters the cache once linked."""
    out = Path(out_dir)
    so_path, manifest_path = out / f"lib{name}.so", out / f"{name}.manifest.json"
    key = recorded_key(recorded, level) if disk_cache.cache_dir() is not None else None
    aliases = state_aliases(recorded)
    if key is not None:
        library, manifest = disk_cache.load(key, LIBRARY), disk_cache.load(key, MANIFEST)
        if library is not None and manifest is not None:
            restored = _restored_manifest(manifest, library, recorded, aliases)
            if restored is not None:
                restored["files"]["library"] = so_path.name
                out.mkdir(parents=True, exist_ok=True)
                so_path.write_bytes(library)
                manifest_path.write_text(json.dumps(restored, indent=2))
                return Built(so_path)
            warnings.warn(f"graphc compile cache: the entry {key[:16]}... does not describe these programs "
                          "(altered or foreign); evicted, it will be rebuilt", RuntimeWarning, stacklevel=2)
            disk_cache.evict(key, LIBRARY)
            disk_cache.evict(key, MANIFEST)
    # The pool and the LLVM children start beside the pass pipeline. The recorded programs call the GEMM
    # cases the optimized ones will, or more (passes drop matmuls but change no transpose): at worst a
    # child starts that the build does not use.
    start_build(recorded)
    if not tiered:
        return Built(_remember(key, build_library(optimized(), out, name=name), aliases))
    first, final = build_tiered(optimized(), out_dir, name=name)
    if final is None:
        return Built(_remember(key, first, aliases))
    return Built(first, background.submit(_remember_final, key, final, aliases, out_dir))


def _remember_final(key: str | None, final: Future[Path], aliases: Mapping[str, str],
                    out_dir: str | os.PathLike[str]) -> Path:
    """_remember for a tiered build's final library once linked. `out_dir` (a model's folder, removed
    when nothing holds it) is held here until the library has been read."""
    return _remember(key, final.result(), aliases)


def _remember(key: str | None, built: Path, aliases: Mapping[str, str]) -> Path:
    """Store a final library and its manifest under the recorded programs' key (if they have one)."""
    if key is not None:
        library = built.read_bytes()
        manifest = json.loads(runtime_manifest_path(built).read_text())
        manifest["library_sha256"] = hashlib.sha256(library).hexdigest()
        _rename_states(manifest, aliases)
        disk_cache.store(key, LIBRARY, library)
        disk_cache.store(key, MANIFEST, json.dumps(manifest).encode())
    return built


def _rename_states(manifest: dict[str, Any], names: Mapping[str, str]) -> None:
    for entry in manifest["programs"].values():
        for arg in entry["args"]:
            if arg["kind"] == "state":
                arg["name"] = names[arg["name"]]


def _restored_manifest(data: bytes, library: bytes, recorded: Mapping[str, Graph],
                       aliases: Mapping[str, str]) -> dict[str, Any] | None:
    """The stored manifest with the model's own state names, if it describes exactly these programs."""
    try:
        manifest = json.loads(data)
        check_manifest(manifest, "in the compile cache")
        if manifest.get("library_sha256") != hashlib.sha256(library).hexdigest():
            return None
        programs = manifest["programs"]
        if not isinstance(programs, dict) or set(programs) != set(recorded):
            return None
        real = {alias: name for name, alias in aliases.items()}
        _rename_states(manifest, real)
        for name, graph in recorded.items():
            if not _describes(programs[name], graph):
                return None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    manifest.pop("library_sha256")
    return manifest


def _describes(entry: dict[str, Any], graph: Graph) -> bool:
    """Every argument is one the graph declares, with its shape and dtype; outputs all there; sizes sane."""
    tables = {"input": graph.inputs, "state": graph.states, "output": graph.outputs}
    seen_outputs = []
    for arg in entry["args"]:
        table = tables[arg["kind"]]
        node = table.get(arg["name"])
        if node is None or list(arg["shape"]) != list(node.shape) or arg["dtype"] != node.type.dtype:
            return False
        if arg["kind"] == "output":
            seen_outputs.append(arg["name"])
    workspace = entry["workspace"]
    sizes = (workspace["static_bytes"], workspace["per_batch_bytes"])
    return (seen_outputs == list(graph.outputs) and isinstance(entry["symbol"], str)
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**40 for v in sizes))
