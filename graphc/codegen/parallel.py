"""The native worker pool (native/graphc_pool.c): its object file and its calls from generated code.

The pool is C because it is plain systems code (threads, a condition variable, atomics) that
gains nothing from being generated; it is compiled once per C compiler and source version,
kept in the compile cache, and linked into every library, so an AOT build needs only libc
and pthreads. Generated code sees two functions:

    void graphc_parallel_for(void (*task)(void *ctx, int64_t t), void *ctx, int64_t tasks);
    void *graphc_scratch(int64_t bytes);     // thread-private, 64-byte aligned

Loops choose their task count from the shapes alone, so every thread count gives the same bits.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from llvmlite import ir

from graphc.codegen import cache as disk_cache
from graphc.codegen.link import LinkError, c_compiler
from graphc.codegen.llvm_util import I64, PTR, VOID

SOURCE = Path(__file__).with_name("native") / "graphc_pool.c"
CFLAGS = ("-O2", "-fPIC", "-pthread", "-fvisibility=hidden", "-c")
TASK_TYPE = ir.FunctionType(VOID, [PTR, I64])


def parallel_for(builder: ir.IRBuilder, task: ir.Function, ctx: ir.Value, tasks: ir.Value) -> None:
    fn = _declare(builder.module, "graphc_parallel_for", ir.FunctionType(VOID, [PTR, PTR, I64]))
    builder.call(fn, [task, ctx, tasks])


def scratch(builder: ir.IRBuilder, nbytes: ir.Value) -> ir.Value:
    fn = _declare(builder.module, "graphc_scratch", ir.FunctionType(PTR, [I64]))
    return builder.call(fn, [nbytes])


def _declare(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    fn = ir.Function(module, fnty, name)
    fn.attributes.add("nounwind")
    return fn


@cache
def _compiler_identity(compiler: str) -> str:
    done = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False)
    return done.stdout


def pool_object() -> Path:
    """The compiled pool, from the cache when this compiler and source were seen before."""
    compiler = c_compiler()
    source = SOURCE.read_bytes()
    key = disk_cache.cache_key("graphc_pool", source, _compiler_identity(compiler), " ".join(CFLAGS))
    cached = disk_cache.path_of(key, ".pool.o")
    if cached is not None and cached.is_file():
        return cached
    with tempfile.TemporaryDirectory(prefix="graphc-pool-") as tmp:
        out = Path(tmp) / "graphc_pool.o"
        command = [compiler, *CFLAGS, str(SOURCE), "-o", str(out)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LinkError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
        data = out.read_bytes()
    disk_cache.store(key, ".pool.o", data)
    if cached is not None and cached.is_file():
        return cached
    return _private_copy(key, data)


@cache
def _private_copy(key: str, data: bytes) -> Path:
    """Where the cache is off or unwritable: one object per process in a temporary file."""
    fd, path = tempfile.mkstemp(prefix=f"graphc-pool-{key[:12]}-", suffix=".o")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return Path(path)
