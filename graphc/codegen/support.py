"""The objects every library links besides its programs: the GEMM kernels and the worker pool.

Neither depends on the model: the GEMM (generated LLVM, gemm_kernel.py) takes its shapes at
run time and the pool (native/graphc_pool.c) is plain C. Each is compiled once per target and
source version and kept in the compile cache, the GEMM as one object per transpose case so a
library links (and a cold build compiles) only the cases its matmuls use. They are also most
of the LLVM time of a cold build, so `prefetch` starts them in the background as soon as a
model's programs reach code generation, each in a child process (LLVM in a child Python, see
target.py; the pool in the C compiler), while the model's own module is emitted and compiled
here. `support_objects` then waits for them.

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

from graphc.codegen import background
from graphc.codegen import cache as disk_cache
from graphc.codegen.link import LinkError, c_compiler
from graphc.codegen.lowering.gemm import GEMM_TYPE, gemm_name
from graphc.codegen.lowering.gemm_kernel import shared_gemm
from graphc.codegen.target import PIPELINE, TargetSpec, compile_ir_in_subprocess
from graphc.ir.graph import Graph

POOL_SOURCE = Path(__file__).with_name("native") / "graphc_pool.c"
POOL_CFLAGS = ("-O2", "-fPIC", "-pthread", "-fvisibility=hidden", "-c")
_CODEGEN = Path(__file__).parent

_lock = threading.Lock()
_builds: dict[tuple[object, ...], Future[bytes]] = {}  # by cache directory, so each one gets its entries

GemmCase = tuple[bool, bool]


def prefetch(spec: TargetSpec, cases: Iterable[GemmCase]) -> None:
    """Start building the support objects a library with these GEMM cases needs, unless under way."""
    root = disk_cache.cache_dir()
    with _lock:
        for case in cases:
            if (root, spec, case) not in _builds:
                _builds[root, spec, case] = _start_gemm(spec, *case)
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
        objects = [build.result() for build in builds]
    except BaseException:
        with _lock:  # a failed build is retried by the next call, not kept
            for key in keys:
                _builds.pop(key, None)
        raise
    names = [f"{gemm_name(*case)}.o" for case in cases] + ["graphc_pool.o"]
    return dict(zip(names, objects, strict=True))


def gemm_cases(graphs: Iterable[Graph]) -> set[GemmCase]:
    """The transpose cases of the matmuls in `graphs`."""
    return {(node.attrs["transpose_a"], node.attrs["transpose_b"])
            for graph in graphs for node in graph.nodes if node.op == "matmul"}


def _start_gemm(spec: TargetSpec, ta: bool, tb: bool) -> Future[bytes]:
    """One transpose case of the shared GEMM as an object for `spec`: from the cache, else compiling.

    The IR is built here, on the calling thread: llvmlite's IR printer is not safe to run in
    two threads at once, and the caller goes on to print its own modules.
    """
    name = gemm_name(ta, tb)
    key = disk_cache.cache_key(name, disk_cache.source_digest(_CODEGEN), *spec.as_dict().values(), PIPELINE)
    cached = disk_cache.load(key, ".gemm.o")
    if cached is not None:
        done: Future[bytes] = Future()
        done.set_result(cached)
        return done
    module = ir.Module(name=name)
    module.triple = spec.triple
    fn = shared_gemm(module, ta, tb)
    if fn.name != name or str(fn.function_type) != str(GEMM_TYPE):
        raise AssertionError(f"shared_gemm emitted {fn.name}: {fn.function_type}, "
                             f"programs call {name}: {GEMM_TYPE}")
    fn.linkage = ""
    return background.submit(_compile_gemm, str(module), spec, key)


def _compile_gemm(text: str, spec: TargetSpec, key: str) -> bytes:
    code = compile_ir_in_subprocess(text, spec, hidden=True)
    disk_cache.store(key, ".gemm.o", code)
    return code


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
        command = [compiler, *POOL_CFLAGS, str(POOL_SOURCE), "-o", str(out)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LinkError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
        data = out.read_bytes()
    disk_cache.store(key, ".pool.o", data)
    return data
