"""Linking object files into a shared library with the system C compiler."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


class LinkError(RuntimeError):
    """The system linker failed or is missing."""


def c_compiler() -> str:
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        raise LinkError(f"no C compiler {compiler!r} on PATH (set CC) to build graphc libraries")
    return compiler


def run_tool(command: Sequence[str]) -> None:
    """Run a compiler, linker or objcopy; a failure raises LinkError with its command and stderr."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LinkError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")


def link_shared(objects: Sequence[Path], so_path: Path) -> None:
    """A shared library needing only libc and pthreads (the generated code calls no libm)."""
    run_tool([c_compiler(), "-shared", "-pthread", "-o", str(so_path), *map(str, objects)])


def localize_internals(object_path: Path) -> None:
    """Make graphc's own symbols in a relocatable object local, so two such objects link into one program.

    Every build holds the GEMM kernels, the worker pool (graphc_*) and entry points named
    graphc_<program>; without this, statically linking two AOT models into one executable
    would define them twice. The C API (<name>_*) stays global.
    """
    candidates = (os.environ.get("OBJCOPY"), "objcopy", "llvm-objcopy")
    tool = next((t for t in candidates if t and shutil.which(t)), None)
    if tool is None:
        raise LinkError("no objcopy or llvm-objcopy on PATH (set OBJCOPY) to build an AOT object")
    run_tool([tool, "--wildcard", "--localize-symbol=graphc_*", str(object_path)])
