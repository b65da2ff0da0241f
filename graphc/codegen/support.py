"""The objects every library links besides its programs: the GEMM kernels and the worker pool.

Neither depends on the model: the GEMM (generated LLVM, gemm_kernel.py) takes its shapes at
run time and the pool (native/graphc_pool.c) is plain C. Each is compiled once per target and
source version and kept in the compile cache, the GEMM as one object per transpose case so a
library links (and a cold build compiles) only the cases its matmuls use. They are also most
of the LLVM time of a cold build, so `prefetch` starts them in the background as soon as the
model's largest module is on its way: the GEMM IR is built on a background thread and queued
for the LLVM workers (llvm_workers.py), the pool goes to the C compiler. What does not depend on
the model starts earlier still (`start`: the pool, the LLVM children and reading the linker's command
line, as soon as a build knows it will compile), so it runs on the core the build's pass pipeline and
IR emission leave idle.
`support_objects` then waits for them, compiling queued GEMM cases itself rather than idle.

Their symbols are hidden: visible to the program object at link time, not exported by the
shared library.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from functools import cache
from pathlib import Path

from llvmlite import ir

from graphc.codegen import background, llvm_workers
from graphc.codegen import cache as disk_cache
from graphc.codegen.link import c_compiler, prepare_linker, run_tool
from graphc.codegen.llvm_util import IR_LOCK
from graphc.codegen.lowering.gemm import gemm_name
from graphc.codegen.lowering.gemm_kernel import shared_gemm
from graphc.codegen.lowering.registry import find_lowering
from graphc.codegen.target import Pipeline, TargetSpec
from graphc.ir.graph import Graph

POOL_SOURCE = Path(__file__).with_name("native") / "graphc_pool.c"
POOL_CFLAGS = ("-O2", "-fPIC", "-pthread", "-fvisibility=hidden", "-c")
_CODEGEN = Path(__file__).parent
GEMM_PIPELINE = Pipeline(1, True, 3)  # the kernels are written vector by vector: O3 only compiles slower

_lock = threading.Lock()
_builds: dict[tuple[object, ...], Future[bytes | Future[bytes]]] = {}  # keyed by cache directory too

GemmCase = tuple[bool, bool]


def start(spec: TargetSpec, cases: Iterable[GemmCase]) -> None:
    """Start what a cold build of a model with these (likely) GEMM cases needs before it knows its
    programs: the pool object, and the LLVM children when a case's object is not in the cache.

    Only a head start: the objects themselves are asked for by `prefetch` and `support_objects`.
    """
    root = disk_cache.cache_dir()
    _start_pool(root)
    _read_linker()
    with _lock:
        missing = [case for case in cases if (root, spec, case) not in _builds]
    paths = [disk_cache.path_of(_gemm_key(spec, *case), ".gemm.o") for case in missing]
    if any(path is None or not path.exists() for path in paths):
        llvm_workers.start()


@cache
def _read_linker() -> Future[None]:
    return background.submit(prepare_linker)


def prefetch(spec: TargetSpec, cases: Iterable[GemmCase]) -> None:
    """Start building the support objects a library with these GEMM cases needs, unless under way."""
    root = disk_cache.cache_dir()
    with _lock:
        for case in sorted(cases):
            if (root, spec, case) not in _builds:
                _builds[root, spec, case] = _start_gemm(spec, *case)
    _start_pool(root)


def _start_pool(root: Path | None) -> None:
    with _lock:
        if (root, "pool") not in _builds:
            _builds[root, "pool"] = background.submit(pool_object_code)


def support_objects(spec: TargetSpec, cases: Iterable[GemmCase]) -> dict[str, bytes]:
    """The GEMM objects for `cases` and the pool object by file name (built now if not started)."""
    cases = sorted(set(cases))
    prefetch(spec, cases)
    root = disk_cache.cache_dir()
    keys = [(root, spec, case) for case in cases] + [(root, "pool")]
    with _lock:
        builds = [_builds[key] for key in keys]
    try:
        objects = [_ready(build.result()) for build in builds]
    except BaseException:
        with _lock:  # a failed build is retried by the next call, not kept
            for key in keys:
                _builds.pop(key, None)
        raise
    names = [f"{gemm_name(*case)}.o" for case in cases] + ["graphc_pool.o"]
    return dict(zip(names, objects, strict=True))


def _ready(built: bytes | Future[bytes]) -> bytes:
    """An object, waiting for (and helping with) the LLVM queue if it is a queued compile."""
    return llvm_workers.wait(built) if isinstance(built, Future) else built


def gemm_cases(graphs: Iterable[Graph]) -> set[GemmCase]:
    """The shared kernels the nodes of `graphs` call (their lowerings' `shared` cases: the GEMM's)."""
    cases = set()
    for graph in graphs:
        for node in graph.nodes:
            lowering = find_lowering(node.op)
            if lowering is not None and lowering.shared is not None:
                cases.add(lowering.shared(node))
            if lowering is not None and lowering.regions is not None:
                cases |= gemm_cases(lowering.regions(node))
    return cases


def _start_gemm(spec: TargetSpec, ta: bool, tb: bool) -> Future[bytes | Future[bytes]]:
    """One transpose case of the shared GEMM as an object for `spec`: from the cache, else compiling.

    Building the IR is Python work (~50 ms a case): it runs in the background too, beside the
    calling thread's own LLVM compile, which releases the interpreter; it then queues the
    compile (llvm_workers.py).
    """
    key = _gemm_key(spec, ta, tb)
    cached = disk_cache.load(key, ".gemm.o")
    if cached is not None:
        done: Future[bytes | Future[bytes]] = Future()
        done.set_result(cached)
        return done
    return background.submit(_queue_gemm, spec, ta, tb, key)


def _gemm_key(spec: TargetSpec, ta: bool, tb: bool) -> str:
    sources = disk_cache.source_digest(_CODEGEN)
    return disk_cache.cache_key(gemm_name(ta, tb), sources, *spec.as_dict().values(), GEMM_PIPELINE.key)


def _queue_gemm(spec: TargetSpec, ta: bool, tb: bool, key: str) -> Future[bytes]:
    with IR_LOCK:
        module = ir.Module(name=gemm_name(ta, tb))
        module.triple = spec.triple
        shared_gemm(module, ta, tb)
        text = str(module)
    job = llvm_workers.submit(text, spec, hidden=True, pipeline=GEMM_PIPELINE)

    def keep(compiled: Future[bytes]) -> None:
        if compiled.exception() is None:
            disk_cache.store(key, ".gemm.o", compiled.result())

    job.add_done_callback(keep)
    return job


@cache
def _compiler_identity(compiler: str) -> str:
    done = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False)
    return done.stdout


def pool_object_code() -> bytes:
    """The compiled pool, from the cache when this compiler and source were seen before."""
    compiler = c_compiler()
    source = POOL_SOURCE.read_bytes()
    key = disk_cache.cache_key("graphc_pool", source, _compiler_identity(compiler), " ".join(POOL_CFLAGS))
    cached = disk_cache.load(key, ".pool.o")
    if cached is not None:
        return cached
    with tempfile.TemporaryDirectory(prefix="graphc-pool-") as tmp:
        out = Path(tmp) / "graphc_pool.o"
        run_tool([compiler, *POOL_CFLAGS, str(POOL_SOURCE), "-o", str(out)])
        data = out.read_bytes()
    disk_cache.store(key, ".pool.o", data)
    return data
