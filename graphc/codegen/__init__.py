"""LLVM code generation: programs (Graphs) -> object files, a shared library and a manifest.

Each program becomes one object, or two for a large FULL program (its kernels in two groups of
modules, _emit); the library links them with the support objects (support.py: the GEMM kernels
and the worker pool), which are model-independent. A cold build compiles these units side by side:
every unit but the last program's first goes to the LLVM workers (llvm_workers.py) as soon as its
IR is emitted, that one compiles here. Objects and linked libraries are kept in the on-disk cache
(cache.py) keyed by the IR and the target, so a model compiled before, in this process or another,
costs only its IR emission.

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

__all__ = ["CompiledObject", "LinkError", "build_library", "build_tiered", "compile_programs", "start_build"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Unit:
    """What one object file is compiled from: LLVM modules linked into one, the functions that stay
    external (`keep`; the rest become internal), whether those are hidden, and the pipeline."""

    texts: tuple[str, ...]
    keep: frozenset[str]
    hidden: bool
    pipeline: Pipeline

    def key(self, spec: TargetSpec) -> str:
        return cache.cache_key(*self.texts, ",".join(sorted(self.keep)), str(self.hidden), spec.triple,
                               spec.cpu, spec.features, self.pipeline.key)

    def submit(self, spec: TargetSpec) -> Future[bytes]:
        return llvm_workers.submit(self.texts, spec, hidden=self.hidden, pipeline=self.pipeline,
                                   keep=self.keep)

    def compile(self, spec: TargetSpec) -> bytes:
        return compile_ir(self.texts, spec, hidden=self.hidden, pipeline=self.pipeline, keep=self.keep)[0]


@dataclass
class CompiledObject:
    """The object code by object name (a program's first object has the program's name, its other
    parts `<program>_part<i>`), the manifest, and per program the LLVM IR of its modules (before
    optimization)."""

    objects: dict[str, bytes]
    manifest: dict[str, Any]
    llvm_ir: dict[str, str]
    units: dict[str, Unit] = field(default_factory=dict)  # what each object was compiled from
    quick: set[str] = field(default_factory=set)  # the objects compiled at QUICK instead of LIGHT


SMALL_ELEMENTS = 1024
# A FULL program whose kernels' LLVM work (_llvm_cost) is above this is compiled as two objects, one on
# an LLVM child (a unit is ~4 us of LLVM time: the tutorial CNN's predict is ~20,000); below it, a
# second job's hand-over would cost about what it saves.
SPLIT_COST = 8_000


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


def _llvm_cost(text: str) -> int:
    """A kernel module's LLVM work at FULL, in units of one character of scalar loop code: a loop LLVM
    vectorizes costs ~4 ms per 1,000 characters, code written with vectors (convolutions, pools in
    registers) a tenth of that, and each module ~2.5 ms whatever its size (measured on the tutorial
    CNN's and an MLP's kernels)."""
    return 600 + (len(text) // 10 if "x float>" in text else len(text))


def _emit(name: str, graph: Graph, spec: TargetSpec, pipeline: Pipeline) -> tuple[dict[str, Any], list[Unit]]:
    """The program's manifest entry and its units: one, or for a large FULL program two, the first
    holding the entry function. A FULL program's kernels are emitted as modules of their own and
    grouped by their LLVM work (_llvm_cost; largest first, each to the lighter group), so that the
    groups compile side by side with about half of it each. Decided by the IR alone, on any machine.

    (Kernels whose loops hold one vector per sample, a softmax over 10 classes, were tried at LIGHT:
    the MLP's training step at batch 128 ran 3-6% slower, its 10-wide loops over the batch no longer
    vectorized, for ~8 ms of LLVM time each saved.)"""
    entry = ir.Module(name=f"graphc_{name}")
    entry.triple = spec.triple
    kernels: list[ir.Module] = []

    def kernel_module(function: str) -> ir.Module:
        module = ir.Module(name=function)
        module.triple = spec.triple
        kernels.append(module)
        return module

    split = kernel_module if pipeline is FULL else None
    manifest = emit_program(entry, name, graph, ConstantPool(entry), kernel_module=split)
    if pipeline is LIGHT:
        _without_fast_math(entry)
    texts = {module.name: str(module) for module in kernels}
    costs = {function: _llvm_cost(text) for function, text in texts.items()}
    groups: list[list[str]] = [list(texts)]
    if sum(costs.values()) > SPLIT_COST:
        groups, loads = [[], []], [0, 0]
        for function in sorted(texts, key=lambda f: -costs[f]):
            lighter = loads.index(min(loads))
            groups[lighter].append(function)
            loads[lighter] += costs[function]
    first = Unit((str(entry), *(texts[f] for f in groups[0])), frozenset({f"graphc_{name}"}), False, pipeline)
    rest = [Unit(tuple(texts[f] for f in group), frozenset(group), True, pipeline) for group in groups[1:]]
    return manifest, [first, *(unit for unit in rest if unit.texts)]


def compile_programs(
    programs: Mapping[str, Graph], *, cpu: str | None = None, started: Callable[[], None] | None = None,
    quick: bool = False,
) -> CompiledObject:
    """Lower each program into LLVM modules and compile them for `cpu` (default: host) with the
    pipeline its size calls for (pipeline_for), or, if `quick`, QUICK where that is LIGHT.

    `started` runs once the largest program is on its way (queued for a worker, or about to
    compile on this thread): compile jobs it submits then queue behind the longest one. Objects
    compiled at QUICK are not cached: the LIGHT ones replacing them are.
    """
    if not programs:
        raise ValueError("compile_programs needs at least one program")
    for name in programs:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"program name {name!r} is not a C identifier")
    spec = target_spec(cpu)
    entries, texts, units, parts_of, quick_ones = {}, {}, {}, {}, set()
    jobs: dict[str, bytes | Future[bytes]] = {}
    here = None  # the object this thread compiles: the last program's first
    # Largest first, each queued for a worker as soon as it is emitted.
    order = sorted(programs.items(), key=lambda item: -len(item[1].nodes))
    for position, (name, graph) in enumerate(order):
        verify(graph)
        pipeline = pipeline_for(graph)
        with IR_LOCK:
            entries[name], parts = _emit(name, graph, spec, pipeline)
        texts[name] = "\n".join(text for unit in parts for text in unit.texts)
        parts_of[name] = [name] + [f"{name}_part{index}" for index in range(1, len(parts))]
        for object_name, unit in zip(parts_of[name], parts, strict=True):
            units[object_name] = unit
            cached = cache.load(unit.key(spec), ".o")
            if cached is not None:
                jobs[object_name] = cached
                continue
            if quick and pipeline is LIGHT:
                units[object_name] = Unit(unit.texts, unit.keep, unit.hidden, QUICK)
                quick_ones.add(object_name)
            if position == len(order) - 1 and object_name == name:
                here = object_name
            else:
                jobs[object_name] = units[object_name].submit(spec)
        if position == 0 and started is not None:
            started()
    if here is not None:
        jobs[here] = units[here].compile(spec)
    done = {}
    for object_name, job in jobs.items():
        fresh = isinstance(job, Future) or object_name == here
        done[object_name] = llvm_workers.wait(job) if isinstance(job, Future) else job
        if fresh and object_name not in quick_ones:
            cache.store(units[object_name].key(spec), ".o", done[object_name])
    manifest = {"graphc_version": graphc.__version__, "target": spec.as_dict(),
                "programs": {name: entries[name] for name in programs}}
    in_order = {object_name: done[object_name] for name in programs for object_name in parts_of[name]}
    return CompiledObject(in_order, manifest, {name: texts[name] for name in programs}, units, quick_ones)


def build_library(
    programs: Mapping[str, Graph], out_dir: str | Path, *, name: str = "model", cpu: str | None = None
) -> Path:
    """Write the objects, lib<name>.so and its manifest (graphc_runtime.manifest) into out_dir; returns
    the .so path."""
    if not _NAME.match(name):
        raise ValueError(f"library name {name!r} is not a C identifier")
    spec, cases = start_build(programs, cpu)
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
    spec, cases = start_build(programs)
    compiled = compile_programs(programs, started=lambda: support.prefetch(spec, cases), quick=True)
    first = _link(compiled, out_dir, name, spec, cases)
    if not compiled.quick:
        return first, None
    units = {object_name: Unit(unit.texts, unit.keep, unit.hidden, LIGHT)
             for object_name, unit in compiled.units.items() if object_name in compiled.quick}
    jobs = {object_name: unit.submit(spec) for object_name, unit in units.items()}
    final = background.submit(_finish_tiered, compiled, units, jobs, out_dir, f"{name}_full", spec, cases)
    return first, final


def _finish_tiered(compiled: CompiledObject, units: Mapping[str, Unit], jobs: Mapping[str, Future[bytes]],
                   out_dir: str | Path, name: str, spec: TargetSpec, cases: set[support.GemmCase]) -> Path:
    objects = dict(compiled.objects)
    for object_name, job in jobs.items():
        objects[object_name] = job.result()
        cache.store(units[object_name].key(spec), ".o", objects[object_name])
    final = CompiledObject(objects, compiled.manifest, compiled.llvm_ir, {**compiled.units, **units})
    return _link(final, out_dir, name, spec, cases)


def _write_input(path: Path, code: bytes) -> None:
    """Write a link input by renaming a whole file over it: a tiered build's final link writes the same
    support objects into the folder while another program's link may be reading them."""
    temp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    temp.write_bytes(code)
    os.replace(temp, path)


def start_build(programs: Mapping[str, Graph], cpu: str | None = None
                ) -> tuple[TargetSpec, set[support.GemmCase]]:
    """Start what a cold build of these programs will need before its passes and IR emission: the
    support objects and, when it will compile more than one object, the LLVM children (a child's
    start, ~0.1 s of CPU, then overlaps the build's own Python work). The programs may be the
    recorded ones: they call the GEMM cases and have the sizes the optimized ones will. Returns the
    target and the programs' GEMM cases."""
    spec, cases = target_spec(cpu), support.gemm_cases(programs.values())
    support.start(spec, cases)
    if len(programs) > 1 or any(pipeline_for(graph) is FULL for graph in programs.values()):
        llvm_workers.start()
    return spec, cases


def _link(compiled: CompiledObject, out_dir: str | Path, name: str, spec: TargetSpec,
          cases: set[support.GemmCase]) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    so_path = out / f"lib{name}.so"
    parts = {f"{name}_{object_name}.o": code for object_name, code in compiled.objects.items()}
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
