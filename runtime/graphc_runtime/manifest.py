"""The one manifest format of every graphc library, in-process or ahead of time.

A library `lib<name>.so` sits beside `<name>.manifest.json`. Every manifest has the same core:
its format and version, the graphc version and target that built it, `files` (the library and
any other file of the build, plain names in the manifest's folder) and `programs`: per program
its entry symbol `int32_t <symbol>(int64_t batch, void **args, void *workspace)`, its
arguments (inputs, states, outputs: name, shape with None for the batch, dtype) and its
workspace sizes; `pool` names the worker pool's functions (thread count, shutdown before
unload). The runtime loads any library through that core (graphc_runtime.Library), so
`fit` and a `graphc compile` build run their programs through the same entry points. An AOT
build adds its C API's description (API_FIELDS), which its library also returns from
`<name>_describe()`; graphc_runtime.deploy checks one against the other.

A manifest is read from disk, so nothing in it is trusted before it is checked here: a bad one
is refused before its library is loaded (loading a library runs its constructors).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graphc_runtime.spec import ArgSpec

FORMAT = "graphc-library"
FORMAT_VERSION = 2
API_FIELDS = ("name", "inputs", "outputs", "workspace", "params", "weights", "training", "stateful")
POOL_FUNCTIONS = ("set_num_threads", "get_num_threads", "shutdown_pool")
MAX_WORKSPACE = 2**40


def pool_symbols(prefix: str = "graphc") -> dict[str, str]:
    """The worker pool's exported functions: graphc_* in process, <name>_* in an AOT library."""
    return {function: f"{prefix}_{function}" for function in POOL_FUNCTIONS}


def library_manifest(programs: Mapping[str, Any], *, graphc_version: str, target: Mapping[str, str],
                     library: str, pool: Mapping[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """A manifest for `library` holding `programs` (name -> symbol, args, workspace); `extra` adds
    the fields of an AOT build (its C API description, its other files)."""
    files = {"library": library, **extra.pop("files", {})}
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "graphc_version": graphc_version,
            "target": dict(target), "files": files, "pool": dict(pool or pool_symbols()),
            "programs": dict(programs), **extra}


def manifest_path(library: Path) -> Path:
    """Where the manifest of lib<name>.so lives."""
    stem = library.name.removeprefix("lib").split(".so")[0]
    return library.with_name(f"{stem}.manifest.json")


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest from disk, checked (check_manifest) before anything uses it."""
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"manifest {path} is not valid JSON ({error})") from None
    check_manifest(manifest, str(path))
    return manifest


def check_manifest(manifest: Any, where: str) -> None:
    """Refuse a manifest of another format or version, or one whose programs table is malformed."""
    if not isinstance(manifest, dict):
        raise ValueError(f"manifest {where} is not a JSON object")
    found = (manifest.get("format"), manifest.get("format_version"))
    if found != (FORMAT, FORMAT_VERSION):
        raise ValueError(f"manifest {where} is format {found[0]!r} version {found[1]!r}, this runtime reads "
                         f"{FORMAT!r} version {FORMAT_VERSION}: rebuild the library with this graphc")
    files = manifest.get("files")
    if not isinstance(files, dict) or not _plain_name(files.get("library")):
        raise ValueError(f"manifest {where}: files.library must be a file name, got "
                         f"{files.get('library') if isinstance(files, dict) else files!r}")
    pool = manifest.get("pool")
    if not isinstance(pool, dict) or sorted(pool) != sorted(POOL_FUNCTIONS) or not all(
            isinstance(symbol, str) and symbol.isidentifier() for symbol in pool.values()):
        raise ValueError(f"manifest {where}: pool must name the functions {list(POOL_FUNCTIONS)}, "
                         f"got {pool!r}")
    if not isinstance(manifest.get("programs"), dict) or not manifest["programs"]:
        raise ValueError(f"manifest {where} has no 'programs' table")
    for name, entry in manifest["programs"].items():
        try:
            if not isinstance(entry["symbol"], str) or not isinstance(entry["args"], list):
                raise TypeError("'symbol' must be a string and 'args' a list")
            specs = [ArgSpec.from_dict(arg) for arg in entry["args"]]
            names = [(s.kind, s.name) for s in specs]
            if len(set(names)) != len(names):
                raise ValueError("an argument is listed twice")
            for key in ("static_bytes", "per_batch_bytes"):
                value = entry["workspace"][key]
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < MAX_WORKSPACE:
                    raise ValueError(f"workspace {key} must be a non-negative int, got {value!r}")
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"manifest {where}: program {name!r} is malformed ({error})") from None


def _plain_name(name: Any) -> bool:
    return isinstance(name, str) and bool(name) and Path(name).name == name and name not in (".", "..")
