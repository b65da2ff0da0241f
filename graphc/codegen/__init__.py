"""LLVM code generation: programs (Graphs) -> object files, a shared library and a manifest.

Each program is one LLVM module and one object; the library links them with the support
objects (support.py: the GEMM kernels and the worker pool), which are model-independent. A cold
build compiles these modules side by side: every module but the last goes to the LLVM workers
(llvm_workers.py) as soon as its IR is emitted, the last one compiles here. Objects and linked
libraries are kept in the on-disk cache (cache.py) keyed by the IR and the target, so a model
compiled before, in this process or another, costs only its IR emission.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphc_runtime.manifest import library_manifest
from llvmlite import ir

import graphc
from graphc.codegen import cache, llvm_workers, support
from graphc.codegen.link import LinkError, link_shared
from graphc.codegen.llvm_util import IR_LOCK
from graphc.codegen.program import ConstantPool, emit_program
from graphc.codegen.target import FULL, LIGHT, Pipeline, compile_ir, target_spec
from graphc.ir.graph import Graph
from graphc.ir.verify import verify

__all__ = ["CompiledObject", "LinkError", "build_library", "compile_programs"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class CompiledObject:
    """Per program: the object code and the LLVM IR it was compiled from (before optimization)."""

    objects: dict[str, bytes]
    manifest: dict[str, Any]
    llvm_ir: dict[str, str]


SMALL_ELEMENTS = 1024


def pipeline_for(graph: Graph) -> Pipeline:
    """LIGHT for a small program (no value or parameter above SMALL_ELEMENTS per sample), else FULL.

    Decided by the shapes alone, so a model compiles to the same code in process and ahead of time.
    """
    largest = max((node.type.static_numel for node in graph.nodes), default=0)
    return LIGHT if largest <= SMALL_ELEMENTS else FULL


def compile_programs(
    programs: Mapping[str, Graph], *, cpu: str | None = None, started: Callable[[], None] | None = None
) -> CompiledObject:
    """Lower each program into its own LLVM module and compile it for `cpu` (default: host) with the
    pipeline its size calls for (pipeline_for).

    `started` runs once the largest module is on its way (queued for a worker, or about to
    compile on this thread): compile jobs it submits then queue behind the longest one.
    """
    if not programs:
        raise ValueError("compile_programs needs at least one program")
    for name in programs:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"program name {name!r} is not a C identifier")
    spec = target_spec(cpu)
    entries, texts, keys = {}, {}, {}
    jobs: dict[str, bytes | Future[bytes]] = {}
    # Largest first, each queued for a worker as soon as it is emitted; the last (smallest) here.
    order = sorted(programs.items(), key=lambda item: -len(item[1].nodes))
    for position, (name, graph) in enumerate(order):
        verify(graph)
        with IR_LOCK:
            module = ir.Module(name=f"graphc_{name}")
            module.triple = spec.triple
            entries[name] = emit_program(module, name, graph, ConstantPool(module))
            texts[name] = text = str(module)
        pipeline = pipeline_for(graph)
        keys[name] = cache.cache_key(text, spec.triple, spec.cpu, spec.features, pipeline.key)
        cached = cache.load(keys[name], ".o")
        last = position == len(order) - 1
        if cached is not None:
            jobs[name] = cached
        elif not last:
            jobs[name] = llvm_workers.submit(text, spec, pipeline=pipeline)
        if position == 0 and started is not None:
            started()
        if name not in jobs:
            jobs[name] = compile_ir(text, spec, pipeline=pipeline)[0]
            cache.store(keys[name], ".o", jobs[name])
    done = {}
    for name, job in jobs.items():
        if isinstance(job, Future):
            job = llvm_workers.wait(job)
            cache.store(keys[name], ".o", job)
        done[name] = job
    manifest = {"graphc_version": graphc.__version__, "target": spec.as_dict(),
                "programs": {name: entries[name] for name in programs}}
    in_order = {name: done[name] for name in programs}
    return CompiledObject(in_order, manifest, {name: texts[name] for name in programs})


def build_library(
    programs: Mapping[str, Graph], out_dir: str | Path, *, name: str = "model", cpu: str | None = None
) -> Path:
    """Write the objects, lib<name>.so and its manifest (graphc_runtime.manifest) into out_dir; returns
    the .so path."""
    if not _NAME.match(name):
        raise ValueError(f"library name {name!r} is not a C identifier")
    spec, cases = target_spec(cpu), support.gemm_cases(programs.values())
    support.start(spec, cases)
    if len(programs) > 1:  # all but one program go to the LLVM children: start them before the IR emission
        llvm_workers.start()
    compiled = compile_programs(programs, cpu=cpu, started=lambda: support.prefetch(spec, cases))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    so_path = out / f"lib{name}.so"
    parts = {f"{name}_{program}.o": code for program, code in compiled.objects.items()}
    parts |= support.support_objects(spec, cases)
    for file_name, code in parts.items():
        (out / file_name).write_bytes(code)
    key = cache.cache_key(*parts.values())
    linked = cache.load(key, ".so")
    if linked is None:
        link_shared([out / file_name for file_name in parts], so_path)
        cache.store(key, ".so", so_path.read_bytes())
    else:
        so_path.write_bytes(linked)
    manifest = library_manifest(compiled.manifest["programs"], graphc_version=graphc.__version__,
                                target=spec.as_dict(), library=so_path.name)
    (out / f"{name}.manifest.json").write_text(json.dumps(manifest, indent=2))
    return so_path
