"""LLVM code generation: programs (Graphs) -> object files, a shared library and a manifest.

Each program is one LLVM module and one object; the library links them with the support
objects (support.py: the GEMM kernels and the worker pool), which are model-independent. A cold
build compiles these modules side by side: every module but the last goes to the LLVM workers
(llvm_workers.py) as soon as its IR is emitted, the last one compiles here. Objects and linked
libraries are kept in the on-disk cache (cache.py) keyed by the IR and the target, so a model
compiled before, in this process or another, costs only its IR emission.

A model's first call can take a tiered build (build_tiered): programs the LIGHT pipeline would
compile are compiled by the much cheaper QUICK one first and by LIGHT on an LLVM child meanwhile;
the caller swaps libraries when the second is linked. Both compute the same bits: LIGHT modules
carry no fast-math flag (they are not vectorized, so reassociation buys them nothing), and without
one every LLVM pass keeps IEEE semantics.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphc_runtime.manifest import library_manifest
from llvmlite import ir

import graphc
from graphc.codegen import background, cache, llvm_workers, support
from graphc.codegen.link import LinkError, link_shared
from graphc.codegen.llvm_util import IR_LOCK
from graphc.codegen.lowering.registry import load_lowerings
from graphc.codegen.program import ConstantPool, emit_program
from graphc.codegen.target import FULL, LIGHT, QUICK, Pipeline, TargetSpec, compile_ir, target_spec
from graphc.ir.graph import Graph
from graphc.ir.verify import verify

__all__ = ["CompiledObject", "LinkError", "build_library", "build_tiered", "compile_programs"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class CompiledObject:
    """Per program: the object code and the LLVM IR it was compiled from (before optimization)."""

    objects: dict[str, bytes]
    manifest: dict[str, Any]
    llvm_ir: dict[str, str]
    quick: set[str] = field(default_factory=set)  # the programs compiled at QUICK instead of LIGHT


SMALL_ELEMENTS = 1024


def pipeline_for(graph: Graph) -> Pipeline:
    """LIGHT for a small program (no value or parameter above SMALL_ELEMENTS per sample), else FULL.

    Decided by the shapes alone, so a model compiles to the same code in process and ahead of time.
    """
    largest = max((node.type.static_numel for node in graph.nodes), default=0)
    return LIGHT if largest <= SMALL_ELEMENTS else FULL


def _without_fast_math(module: ir.Module) -> None:
    """Drop every fast-math flag (the reductions' reassociation), so any pipeline computes the same bits."""
    for function in module.functions:
        for block in function.blocks:
            for instruction in block.instructions:
                if getattr(instruction, "flags", None) and instruction.opname.startswith("f"):
                    instruction.flags = []


def compile_programs(
    programs: Mapping[str, Graph], *, cpu: str | None = None, started: Callable[[], None] | None = None,
    quick: bool = False,
) -> CompiledObject:
    """Lower each program into its own LLVM module and compile it for `cpu` (default: host) with the
    pipeline its size calls for (pipeline_for), or, if `quick`, QUICK where that is LIGHT.

    `started` runs once the largest module is on its way (queued for a worker, or about to
    compile on this thread): compile jobs it submits then queue behind the longest one. Objects
    compiled at QUICK are not cached: the LIGHT ones replacing them are.
    """
    if not programs:
        raise ValueError("compile_programs needs at least one program")
    for name in programs:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"program name {name!r} is not a C identifier")
    spec = target_spec(cpu)
    entries, texts, keys, quick_ones = {}, {}, {}, set()
    jobs: dict[str, bytes | Future[bytes]] = {}
    # Largest first, each queued for a worker as soon as it is emitted; the last (smallest) here.
    order = sorted(programs.items(), key=lambda item: -len(item[1].nodes))
    for position, (name, graph) in enumerate(order):
        verify(graph)
        pipeline = pipeline_for(graph)
        with IR_LOCK:
            module = ir.Module(name=f"graphc_{name}")
            module.triple = spec.triple
            entries[name] = emit_program(module, name, graph, ConstantPool(module))
            if pipeline is LIGHT:
                _without_fast_math(module)
            texts[name] = text = str(module)
        keys[name] = _object_key(text, spec, pipeline)
        cached = cache.load(keys[name], ".o")
        if cached is None and quick and pipeline is LIGHT:
            pipeline = QUICK
            quick_ones.add(name)
        last = position == len(order) - 1
        if cached is not None:
            jobs[name] = cached
        elif not last:
            jobs[name] = llvm_workers.submit(text, spec, pipeline=pipeline)
        if position == 0 and started is not None:
            started()
        if name not in jobs:
            jobs[name] = compile_ir(text, spec, pipeline=pipeline)[0]
            if name not in quick_ones:
                cache.store(keys[name], ".o", jobs[name])
    done = {}
    for name, job in jobs.items():
        if isinstance(job, Future):
            job = llvm_workers.wait(job)
            if name not in quick_ones:
                cache.store(keys[name], ".o", job)
        done[name] = job
    manifest = {"graphc_version": graphc.__version__, "target": spec.as_dict(),
                "programs": {name: entries[name] for name in programs}}
    in_order = {name: done[name] for name in programs}
    return CompiledObject(in_order, manifest, {name: texts[name] for name in programs}, quick_ones)


def _object_key(text: str, spec: TargetSpec, pipeline: Pipeline) -> str:
    return cache.cache_key(text, spec.triple, spec.cpu, spec.features, pipeline.key)


def build_library(
    programs: Mapping[str, Graph], out_dir: str | Path, *, name: str = "model", cpu: str | None = None
) -> Path:
    """Write the objects, lib<name>.so and its manifest (graphc_runtime.manifest) into out_dir; returns
    the .so path."""
    if not _NAME.match(name):
        raise ValueError(f"library name {name!r} is not a C identifier")
    spec, cases = target_spec(cpu), support.gemm_cases(programs.values())
    _start(programs, spec, cases)
    compiled = compile_programs(programs, cpu=cpu, started=lambda: support.prefetch(spec, cases))
    return _link(compiled, out_dir, name, spec, cases)


def build_tiered(programs: Mapping[str, Graph], out_dir: str | Path, *, name: str = "model"
                 ) -> tuple[Path, Future[Path] | None]:
    """build_library for the host, sooner: lib<name>.so with QUICK code where the programs would be
    LIGHT and not in the cache, and then the Future of build_library's own library (same programs,
    manifest and results), linked as lib<name>_full.so while the caller runs the first.

    The Future is None when nothing was compiled at QUICK (then the first library is final).
    """
    if not _NAME.match(name):
        raise ValueError(f"library name {name!r} is not a C identifier")
    spec, cases = target_spec(), support.gemm_cases(programs.values())
    _start(programs, spec, cases)
    compiled = compile_programs(programs, started=lambda: support.prefetch(spec, cases), quick=True)
    first = _link(compiled, out_dir, name, spec, cases)
    if not compiled.quick:
        return first, None
    jobs = {program: llvm_workers.submit(compiled.llvm_ir[program], spec, pipeline=LIGHT)
            for program in compiled.quick}
    return first, background.submit(_finish_tiered, compiled, jobs, out_dir, f"{name}_full", spec, cases)


def _finish_tiered(compiled: CompiledObject, jobs: Mapping[str, Future[bytes]], out_dir: str | Path,
                   name: str, spec: TargetSpec, cases: set[support.GemmCase]) -> Path:
    objects = dict(compiled.objects)
    for program, job in jobs.items():
        objects[program] = job.result()
        cache.store(_object_key(compiled.llvm_ir[program], spec, LIGHT), ".o", objects[program])
    final = CompiledObject(objects, compiled.manifest, compiled.llvm_ir)
    return _link(final, out_dir, name, spec, cases)


def _write_input(path: Path, code: bytes) -> None:
    """Write a link input by renaming a whole file over it: a tiered build's final link writes the same
    support objects into the folder while another program's link may be reading them."""
    temp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    temp.write_bytes(code)
    os.replace(temp, path)


def _start(programs: Mapping[str, Graph], spec: TargetSpec, cases: set[support.GemmCase]) -> None:
    support.start(spec, cases)
    if len(programs) > 1:  # all but one program go to the LLVM children: start them before the IR emission
        llvm_workers.start()


def _link(compiled: CompiledObject, out_dir: str | Path, name: str, spec: TargetSpec,
          cases: set[support.GemmCase]) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    so_path = out / f"lib{name}.so"
    parts = {f"{name}_{program}.o": code for program, code in compiled.objects.items()}
    parts |= support.support_objects(spec, cases)
    for file_name, code in parts.items():
        _write_input(out / file_name, code)
    key = cache.cache_key(*parts.values())
    linked = cache.load(key, ".so") if not compiled.quick else None
    if linked is None:
        link_shared([out / file_name for file_name in parts], so_path)
        if not compiled.quick:
            cache.store(key, ".so", so_path.read_bytes())
    else:
        so_path.write_bytes(linked)
    manifest = library_manifest(compiled.manifest["programs"], graphc_version=graphc.__version__,
                                target=spec.as_dict(), library=so_path.name)
    (out / f"{name}.manifest.json").write_text(json.dumps(manifest, indent=2))
    return so_path


# Every lowering module now, with the package, rather than ~14 ms into a model's first build.
load_lowerings()
