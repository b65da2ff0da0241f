"""Atomic file replacement: a reader, or a process killed mid-save, sees the old file or the new one.

The new content goes to a temporary file in the target's folder (same file system, so the rename
is atomic), is flushed and fsynced, then `os.replace`d over the target, and the folder is fsynced
so the rename itself survives a crash. Any failure (a full disk, an exception while writing)
removes the temporary file and leaves the previous file untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = ".tmp-"  # in every temporary name, so stale ones from killed writers are recognisable


@contextlib.contextmanager
def replacing(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path to write the whole new file to; on a clean exit it becomes `target`."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}{TEMP_MARK}", dir=folder)
    os.close(fd)
    temp = Path(temp_name)
    try:
        yield temp
        _fsync_file(temp)
        os.chmod(temp, _mode_for(target, temp))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_folder(folder)


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with replacing(target) as temp:
        temp.write_bytes(data)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    write_bytes(target, text.encode())


def _mode_for(target: Path, temp: Path) -> int:
    """The replaced file's permissions, else what open() would give (mkstemp's file is private)."""
    with contextlib.suppress(OSError):
        return target.stat().st_mode & 0o7777
    executable = temp.stat().st_mode & 0o111
    return (0o777 if executable else 0o666) & ~_umask()


def _umask() -> int:
    """Read without os.umask, which sets the mask process-wide while it reads it."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a folder; the rename stands
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
