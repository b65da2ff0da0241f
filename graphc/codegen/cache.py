"""An on-disk cache of compiled artifacts, so a second process compiling the same model compiles nothing.

Entries are keyed by a hash of everything that decides the bytes: the LLVM IR text, the target
triple, CPU name and features, the llvmlite (LLVM) version and the native runtime's source.
The directory is $GRAPHC_CACHE_DIR (default ~/.cache/graphc); GRAPHC_CACHE_DIR=off disables it.
Writes go to a temporary file that is renamed into place, so concurrent builders never see a
partial entry; a cache that cannot be written is skipped, never an error. The cache is kept
under $GRAPHC_CACHE_MAX_MB megabytes (default 1024): a write that takes it over the limit
removes the least recently used entries (a hit refreshes an entry's time).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import cache
from pathlib import Path

import llvmlite

ENV = "GRAPHC_CACHE_DIR"
LIMIT_ENV = "GRAPHC_CACHE_MAX_MB"
DEFAULT_LIMIT_MB = 1024
DISABLED = ("off", "0", "none")


def cache_dir() -> Path | None:
    """The cache directory, or None when caching is switched off."""
    configured = os.environ.get(ENV)
    if configured is not None and configured.strip().lower() in DISABLED:
        return None
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "graphc"


@cache
def source_digest(root: Path) -> str:
    """A digest of the Python and C sources below `root`: what decides the code generated from them."""
    digest = hashlib.sha256()
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.c")]):
        data = path.read_bytes()
        digest.update(str(path.relative_to(root)).encode() + b"\0" + len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def cache_key(*parts: str | bytes) -> str:
    """A hex digest of the parts (length-prefixed so no two part lists collide) and llvmlite's version."""
    digest = hashlib.sha256()
    for part in (llvmlite.__version__, *parts):
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def path_of(key: str, suffix: str) -> Path | None:
    """Where the entry lives (whether or not it exists yet), or None when caching is off."""
    root = cache_dir()
    return None if root is None else root / f"{key}{suffix}"


def load(key: str, suffix: str) -> bytes | None:
    """The cached bytes for `key`, or None."""
    path = path_of(key, suffix)
    if path is None:
        return None
    try:
        data = path.read_bytes()
        os.utime(path)
    except OSError:
        return None
    return data


def store(key: str, suffix: str, data: bytes) -> None:
    """Write an entry atomically; failures (read-only home, full disk) only cost a later recompile."""
    root = cache_dir()
    if root is None:
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=root, prefix=".tmp-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, root / f"{key}{suffix}")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        prune(root, limit_bytes())
    except OSError:
        return


def limit_bytes() -> int:
    configured = os.environ.get(LIMIT_ENV, "")
    try:
        megabytes = float(configured) if configured.strip() else DEFAULT_LIMIT_MB
    except ValueError:
        raise ValueError(f"{LIMIT_ENV} must be a number of megabytes, got {configured!r}") from None
    return int(megabytes * 2**20)


def prune(root: Path, limit: int) -> None:
    """Remove the least recently used entries until the directory holds at most `limit` bytes."""
    entries = []
    for path in root.iterdir():
        try:
            info = path.stat()
        except OSError:
            continue
        if path.is_file() and not path.name.startswith(".tmp-"):
            entries.append((info.st_mtime, info.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= limit:
            break
        path.unlink(missing_ok=True)
        total -= size
