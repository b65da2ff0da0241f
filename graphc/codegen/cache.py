"""An on-disk cache of compiled artifacts, so a second process compiling the same model compiles nothing.

Entries are keyed by a hash of everything that decides the bytes: the LLVM IR text, the target
triple, CPU name and features, the llvmlite (LLVM) version and the native runtime's source.
The directory is $GRAPHC_CACHE_DIR (default ~/.cache/graphc); GRAPHC_CACHE_DIR=off disables it.

Nothing read back is trusted: every entry is framed with a magic line and the SHA-256 of its
payload, checked before the bytes are used (before a library is ever handed to the dynamic
loader, whose constructors would run). A truncated, flipped, foreign or planted file is
evicted with a warning and rebuilt. A directory not owned by this user, or writable by group
or others, is not used at all (a warning, then no cache); the directory is created 0700.
Writes go to a temporary file that is renamed into place, so concurrent builders never see a
partial entry; temporary files left by killed writers are removed after TEMP_GRACE_S. A cache
that cannot be written is skipped, never an error. The cache is kept under $GRAPHC_CACHE_MAX_MB
megabytes (default 1024): a write that takes it over the limit removes the least recently used
entries (a hit refreshes an entry's time) down to LOW_WATER of the limit. Scanning a cache of
thousands of entries costs more than compiling a small model, so the directory is scanned only when
a ledger (USAGE_FILE: the bytes the last scan found plus those written since) says the limit is
reached, or when that scan is older than RESCAN_S (writers in other processes may have missed the
ledger); pruning to the low-water mark leaves room for the writes after it, where pruning to the
limit itself made every later write of a full cache scan again (a full cache of ~39,000 entries:
three scans of 0.75 s in a small model's first step).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import threading
import time
import warnings
from functools import cache
from pathlib import Path

import llvmlite

ENV = "GRAPHC_CACHE_DIR"
LIMIT_ENV = "GRAPHC_CACHE_MAX_MB"
DEFAULT_LIMIT_MB = 1024
DISABLED = ("off", "0", "none")
MAGIC = b"graphc-cache-entry 1\n"
FORMAT = ".g2"  # in entry names: graphc versions before framed entries never read them
_DIGEST = 32
TEMP_PREFIX = ".tmp-"
TEMP_GRACE_S = 600.0  # a temporary file this old belongs to a writer that died
USAGE_FILE = ".usage"
RESCAN_S = 3600.0
LOW_WATER = 0.75  # a prune leaves this share of the limit
_refused: set[Path] = set()  # directories already warned about, once per process
_refused_lock = threading.Lock()


def cache_dir() -> Path | None:
    """The cache directory, or None when caching is switched off or the directory is not safe to use."""
    configured = os.environ.get(ENV)
    if configured is not None and configured.strip().lower() in DISABLED:
        return None
    root = Path(configured).expanduser() if configured else Path.home() / ".cache" / "graphc"
    return root if _safe_directory(root) else None


def _safe_directory(root: Path) -> bool:
    """Ours alone: owned by this user and not writable by group or others (or not there yet)."""
    try:
        info = root.stat()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    problem = None
    if not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif hasattr(os, "getuid") and info.st_uid != os.getuid():
        problem = f"is owned by uid {info.st_uid}, not by this user (uid {os.getuid()})"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"is writable by {'others' if info.st_mode & stat.S_IWOTH else 'its group'} " \
                  f"(mode {stat.S_IMODE(info.st_mode):o})"
    if problem is None:
        return True
    with _refused_lock:
        if root not in _refused:
            _refused.add(root)
            warnings.warn(f"graphc compile cache {root} {problem}: it is not used, and every model "
                          f"compiles from scratch (chmod 700 it, or point {ENV} elsewhere)", RuntimeWarning,
                          stacklevel=3)
    return False


@cache
def source_digest(root: Path, packages: tuple[str, ...] = ("",)) -> str:
    """A digest of the Python and C sources below root/<package> for each of `packages`: what decides
    the code generated from them. One directory walk per package (a warm compile pays for it)."""
    files = []
    for package in packages:
        for directory, subdirs, names in os.walk(root / package):
            subdirs[:] = [name for name in subdirs if name != "__pycache__"]
            files += [Path(directory, name) for name in names if name.endswith((".py", ".c"))]
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda path: path.relative_to(root).as_posix()):
        data = path.read_bytes()
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + len(data).to_bytes(8, "little"))
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
    return None if root is None else root / f"{key}{FORMAT}{suffix}"


def load(key: str, suffix: str) -> bytes | None:
    """The cached payload for `key` if its frame and hash check out; a bad entry is evicted and None."""
    path = path_of(key, suffix)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    payload = _unframe(data)
    if payload is None:
        warnings.warn(f"graphc compile cache: {path.name} is corrupt (truncated, altered or not written by "
                      "graphc); evicted, it will be rebuilt", RuntimeWarning, stacklevel=2)
        evict(key, suffix)
        return None
    try:
        os.utime(path)
    except OSError:
        pass
    return payload


def evict(key: str, suffix: str) -> None:
    """Remove an entry found unusable (by its hash here, or by a caller's own checks)."""
    path = path_of(key, suffix)
    if path is not None:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def _frame(payload: bytes) -> bytes:
    return MAGIC + hashlib.sha256(payload).digest() + payload


def _unframe(data: bytes) -> bytes | None:
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _DIGEST:
        return None
    digest, payload = data[len(MAGIC):len(MAGIC) + _DIGEST], data[len(MAGIC) + _DIGEST:]
    return payload if hashlib.sha256(payload).digest() == digest else None


def store(key: str, suffix: str, data: bytes) -> None:
    """Write an entry atomically; failures (read-only home, full disk) only cost a later recompile."""
    root = cache_dir()
    if root is None:
        return
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=root, prefix=TEMP_PREFIX, suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_frame(data))
            os.replace(tmp, root / f"{key}{FORMAT}{suffix}")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _account(root, len(MAGIC) + _DIGEST + len(data), limit_bytes())
    except OSError:
        return


def _account(root: Path, added: int, limit: int) -> None:
    """Add a write to the ledger; scan (and prune) only when the ledger says so or is missing or old."""
    now = time.time()
    usage = _read_usage(root)
    if usage is None or usage[0] + added > limit or not 0 <= now - usage[1] <= RESCAN_S:
        _write_usage(root, prune(root, limit), now)
    else:
        _write_usage(root, usage[0] + added, usage[1])


def _read_usage(root: Path) -> tuple[int, float] | None:
    """(bytes, time of the last scan) from the ledger; None when it is missing or not two numbers."""
    try:
        total, scanned = (root / USAGE_FILE).read_text().split()
        return int(total), float(scanned)
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _write_usage(root: Path, total: int, scanned: float) -> None:
    fd, tmp = tempfile.mkstemp(dir=root, prefix=TEMP_PREFIX, suffix=USAGE_FILE)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{total} {scanned!r}\n")
        os.replace(tmp, root / USAGE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def limit_bytes() -> int:
    configured = os.environ.get(LIMIT_ENV, "")
    try:
        megabytes = float(configured) if configured.strip() else DEFAULT_LIMIT_MB
    except ValueError:
        raise ValueError(f"{LIMIT_ENV} must be a number of megabytes, got {configured!r}") from None
    return int(megabytes * 2**20)


def prune(root: Path, limit: int) -> int:
    """Remove temporary files of dead writers, then, when the directory holds more than `limit` bytes,
    the least recently used entries until it holds at most LOW_WATER of it; returns the bytes left."""
    entries = []
    now = time.time()
    with os.scandir(root) as listing:
        for entry in listing:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode) or entry.name == USAGE_FILE:
                continue
            if entry.name.startswith(TEMP_PREFIX):
                if now - info.st_mtime > TEMP_GRACE_S:
                    Path(entry.path).unlink(missing_ok=True)
                continue
            entries.append((info.st_mtime, info.st_size, Path(entry.path)))
    total = sum(size for _, size, _ in entries)
    if total <= limit:
        return total
    for _, size, path in sorted(entries):
        if total <= limit * LOW_WATER:
            break
        path.unlink(missing_ok=True)
        total -= size
    return total
