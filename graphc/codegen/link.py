"""Linking object files into a shared library with the system C compiler."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import threading
from collections.abc import Sequence
from functools import cache
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
    """A shared library needing only libc and pthreads (the generated code calls no libm).

    Runs the linker the C compiler would run, with the compiler's own arguments, directly: the
    compiler driver and collect2 cost a first build ~6 ms of its ~80 (gold, when there, ~3 ms more
    than ld). Anything unexpected falls back to the compiler.
    """
    files = [str(path) for path in objects]
    command = None if _use_compiler.is_set() else _linker_command()
    if command is not None:
        try:
            run_tool([str(so_path) if arg == _OUT else arg for arg in command for arg in
                      (files if arg == _IN else [arg])])
            return
        except (LinkError, OSError):
            _use_compiler.set()
    run_tool([c_compiler(), "-shared", "-pthread", "-o", str(so_path), *files])


_OUT, _IN = "@graphc_out@.so", "@graphc_in@.o"
_use_compiler = threading.Event()  # the direct command failed once in this process


def prepare_linker() -> None:
    """Read the linker's command line now (a build's first link otherwise waits ~4 ms for it)."""
    _linker_command()


@cache
def _linker_command() -> tuple[str, ...] | None:
    """The linker's command line for `cc -shared -pthread -o _OUT _IN`, read from the driver's `-###`;
    None when it cannot be read (another driver's output)."""
    compiler = c_compiler()
    for gold in (True, False):
        linker = shutil.which("ld.gold") if gold else _program(compiler, "ld")
        flags = ["-fuse-ld=gold"] if gold else []
        if linker is None:
            continue
        try:
            done = subprocess.run([compiler, "-###", *flags, "-shared", "-pthread", "-o", _OUT, _IN],
                                  capture_output=True, text=True, check=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        lines = [line for line in done.stderr.splitlines() if _OUT in line and not line.startswith("COLLECT")]
        words = shlex.split(lines[-1]) if lines else []
        if not words or Path(words[0]).name not in ("collect2", "ld", "ld.gold") or _IN not in words:
            continue
        return (linker, *_without_plugin(words[1:]))
    return None


def _program(compiler: str, name: str) -> str | None:
    try:
        done = subprocess.run([compiler, f"-print-prog-name={name}"], capture_output=True, text=True,
                              check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return shutil.which(done.stdout.strip())


def _without_plugin(words: Sequence[str]) -> list[str]:
    """The arguments without the LTO plugin's (graphc's objects are not LTO bitcode)."""
    kept, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word == "-plugin":
            skip = True
        elif not word.startswith("-plugin-opt="):
            kept.append(word)
    return kept


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
