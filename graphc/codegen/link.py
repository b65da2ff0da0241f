"""Linking an object file into a shared library with the system C compiler."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


class LinkError(RuntimeError):
    """The system linker failed or is missing."""


def link_shared(object_path: Path, so_path: Path) -> None:
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        raise LinkError(f"no C compiler {compiler!r} on PATH to link {so_path.name}")
    command = [compiler, "-shared", "-o", str(so_path), str(object_path), "-lm"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LinkError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
