"""LLVM code generation: programs (Graphs) -> object files, a shared library and a manifest.

Each program becomes one object, or several for a large FULL program (its kernels grouped by
pipeline and LLVM work, _emit); the library links them with the support objects (support.py: the
GEMM kernels and the worker pool), which are model-independent. A cold build compiles these units
side by side: every unit but the last program's first goes to the LLVM workers (llvm_workers.py),
a large kernel as soon as it is emitted, the others once their program is; that one compiles
here. Objects and linked libraries are kept in the on-disk cache (cache.py) keyed by the IR and
the target, so a model compiled before, in this process or another, costs only its IR emission.

A model's first call can take a tiered build (build_tiered): what the LIGHT pipeline would compile
(small programs, and the short kernels of large inference programs) is compiled by the much
cheaper QUICK one first and by LIGHT on an LLVM child meanwhile; the caller swaps libraries when the
second is linked. Both compute the same bits: LIGHT modules carry no fast-math flag (they are not
vectorized, so reassociation buys them nothing), and without one every LLVM pass keeps IEEE
semantics.
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
from graphc.codegen.lowering.registry import find_lowering, load_lowerings
from graphc.codegen.program import ConstantPool, emit_program
from graphc.codegen.target import BY_VECTOR, FULL, LIGHT, QUICK, Pipeline, TargetSpec, compile_ir, target_spec
from graphc.ir.graph import Graph
from graphc.ir.verify import verify
from graphc.passes.kernels import Kernel

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

    def submit(self, spec: TargetSpec, hand_over: bool = False) -> Future[bytes]:
        return llvm_workers.submit(self.texts, spec, hidden=self.hidden, pipeline=self.pipeline,
                                   keep=self.keep, hand_over=hand_over)

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
# A FULL program whose kernels' LLVM work (_llvm_cost, in microseconds) is above this compiles as two or
# more objects, one on an LLVM child; below it, a second job's hand-over would cost about what it saves.
# A kernel with this much work alone is handed to a child the moment it is emitted.
SPLIT_COST = 24_000


def pipeline_for(graph: Graph) -> Pipeline:
    """LIGHT for a small program (no value or parameter above SMALL_ELEMENTS per sample), else FULL.

    Decided by the shapes alone, so a model compiles to the same code in process and ahead of time.
    """
    largest = max((node.type.static_numel for node in graph.nodes), default=0)
    return LIGHT if largest <= SMALL_ELEMENTS else FULL


SHORT_ELEMENTS = 16  # one vector


def kernel_pipeline(graph: Graph, kernel: Kernel) -> Pipeline:
    """LIGHT for a short kernel of a FULL inference program (no state updates): every value its own
    loops visit has at most SHORT_ELEMENTS per sample (a softmax over 10 classes, a 10-wide Dense's
    epilogue; the operands of a node whose lowering calls a shared kernel, the GEMM's, are that
    kernel's). Else the program's pipeline.

    Such a kernel costs LLVM ~3x less at LIGHT (a 10-wide GEMM epilogue 10 -> 3 ms) and its loops,
    one vector long, lose little unvectorized (a 1,024-image predict of the tutorial CNN runs as
    fast). A training step keeps them FULL: they run over the batch several times a step (the MLP's
    step ran 3-6% slower with them at LIGHT)."""
    pipeline = pipeline_for(graph)
    if pipeline is not FULL or graph.updates:
        return pipeline
    visited = [*kernel.nodes]
    for node in kernel.nodes:
        lowering = find_lowering(node.op)
        if lowering is None or lowering.shared is None:
            visited += [n for n in node.inputs if n not in kernel.nodes]
    return LIGHT if all(node.type.static_numel <= SHORT_ELEMENTS for node in visited) else FULL


def _without_fast_math(module: ir.Module) -> None:
    """Drop every fast-math flag (the reductions' reassociation), so any pipeline computes the same bits."""
    for function in module.functions:
        for block in function.blocks:
            for instruction in block.instructions:
                if getattr(instruction, "flags", None) and instruction.opname.startswith("f"):
                    instruction.flags = []


def _by_vector(text: str) -> bool:
    """Whether a kernel module is written with vectors (a convolution's or pool's register tiles)."""
    return "x float>" in text


def _llvm_cost(text: str) -> int:
    """A module's LLVM work at FULL in microseconds: ~1.5 ms a module, ~2.8 ms a loop (the loop passes and
    the vectorizer's plans for it), ~0.55 us a character of scalar code, ~0.27 us one of code written
    with vectors. Fitted on the tutorial CNN's and an MLP's modules (mean error 16%; counting
    characters alone, 41%: a 10-wide loop nest costs as much as 5,000 straight-line characters). At
    LIGHT a module costs about a third of it, at BY_VECTOR about four fifths."""
    per_character = 0.27 if _by_vector(text) else 0.55
    return int(1500 + 2800 * text.count(".header:") + per_character * len(text))


_SHARE = {FULL: 1.0, BY_VECTOR: 0.8, LIGHT: 1 / 3}  # of _llvm_cost


class _KernelTexts:
    """A FULL program's kernel modules as texts, by pipeline and function: FULL; BY_VECTOR for those
    written with vectors; LIGHT for short ones (kernel_pipeline). A kernel whose LLVM work is worth a
    job on its own (SPLIT_COST) goes to `early` the moment it is emitted, so that a child compiles it
    while this thread emits the rest."""

    def __init__(self, spec: TargetSpec, graph: Graph, early: Callable[[Unit], None]) -> None:
        self.spec, self.graph, self.early = spec, graph, early
        self.texts: dict[Pipeline, dict[str, str]] = {FULL: {}, BY_VECTOR: {}, LIGHT: {}}
        self.pipelines: dict[str, Pipeline] = {}
        self.sent = 0  # the LLVM work handed to `early`

    def module(self, function: str, kernel: Kernel) -> ir.Module:
        self.pipelines[function] = kernel_pipeline(self.graph, kernel)
        module = ir.Module(name=function)
        module.triple = self.spec.triple
        return module

    def done(self, module: ir.Module) -> None:
        pipeline = self.pipelines[module.name]
        if pipeline is LIGHT:
            _without_fast_math(module)
        text = str(module)
        if pipeline is FULL and _by_vector(text):
            pipeline = BY_VECTOR
        cost = _llvm_cost(text)
        if pipeline is LIGHT or cost < SPLIT_COST:
            self.texts[pipeline][module.name] = text
            return
        self.sent += int(cost * _SHARE[pipeline])
        self.early(Unit((text,), frozenset({module.name}), True, pipeline))


def _emit(name: str, graph: Graph, spec: TargetSpec, pipeline: Pipeline, early: Callable[[Unit], None]
          ) -> tuple[dict[str, Any], Unit, list[Unit]]:
    """The program's manifest entry, its first unit (the one holding the entry function) and the rest.

    A FULL program's kernels are emitted as modules of their own. One whose LLVM work alone is
    SPLIT_COST or more goes to `early` as a unit of its own when emitted; the others compiled at BY_VECTOR
    or LIGHT form a unit each; past SPLIT_COST in all, the FULL ones form two groups balanced by their
    LLVM work (_llvm_cost; largest first, each to the lighter group, the other units counting in the
    second), so that the units compile side by side with about half of it each. Decided by the IR
    alone, on any machine.

    (Kernels whose loops hold one vector per sample, a softmax over 10 classes, were tried at LIGHT in
    training steps too: the MLP's step at batch 128 ran 3-6% slower, its 10-wide loops over the batch
    no longer vectorized, for ~8 ms of LLVM time each saved.)"""
    entry = ir.Module(name=f"graphc_{name}")
    entry.triple = spec.triple
    sink = _KernelTexts(spec, graph, early) if pipeline is FULL else None
    manifest = emit_program(entry, name, graph, ConstantPool(entry), sink=sink)
    if pipeline is LIGHT:
        _without_fast_math(entry)
    entry_text = str(entry)
    if sink is None:
        return manifest, Unit((entry_text,), frozenset({f"graphc_{name}"}), False, pipeline), []
    texts = sink.texts[FULL]
    others = [Unit(tuple(group.values()), frozenset(group), True, kind)
              for kind, group in sink.texts.items() if kind is not FULL and group]
    sent = sink.sent + sum(int(_llvm_cost(text) * _SHARE[unit.pipeline])
                           for unit in others for text in unit.texts)
    costs = {function: _llvm_cost(text) for function, text in texts.items()}
    groups: list[list[str]] = [list(texts)]
    if sent + sum(costs.values()) > SPLIT_COST:
        groups, loads = [[], []], [_llvm_cost(entry_text), sent]
        for function in sorted(texts, key=lambda f: -costs[f]):
            lighter = loads.index(min(loads))
            groups[lighter].append(function)
            loads[lighter] += costs[function]
    first = Unit((entry_text, *(texts[f] for f in groups[0])), frozenset({f"graphc_{name}"}), False, pipeline)
    rest = [Unit(tuple(texts[f] for f in group), frozenset(group), True, pipeline) for group in groups[1:]]
    return manifest, first, [unit for unit in [*rest, *others] if unit.texts]


def compile_programs(
    programs: Mapping[str, Graph], *, cpu: str | None = None, started: Callable[[], None] | None = None,
    quick: bool = False,
) -> CompiledObject:
    """Lower each program into LLVM modules and compile them for `cpu` (default: host) with the
    pipelines its sizes call for (pipeline_for, kernel_pipeline), or, if `quick`, QUICK where that
    is LIGHT.

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
    entries: dict[str, dict[str, Any]] = {}
    units: dict[str, Unit] = {}
    parts_of: dict[str, list[str]] = {}
    quick_ones: set[str] = set()
    jobs: dict[str, bytes | Future[bytes]] = {}
    here: list[str] = []  # the object this thread compiles: the last program's first

    def dispatch(object_name: str, unit: Unit, compile_here: bool = False, hand_over: bool = False) -> None:
        units[object_name] = unit
        cached = cache.load(unit.key(spec), ".o")
        if cached is not None:
            jobs[object_name] = cached
            return
        if quick and unit.pipeline is LIGHT:
            units[object_name] = Unit(unit.texts, unit.keep, unit.hidden, QUICK)
            quick_ones.add(object_name)
        if compile_here:
            here.append(object_name)
        else:
            jobs[object_name] = units[object_name].submit(spec, hand_over)

    # Largest first, each unit queued for a worker as soon as it is emitted.
    order = sorted(programs.items(), key=lambda item: -len(item[1].nodes))
    for position, (name, graph) in enumerate(order):
        verify(graph)
        parts = parts_of[name] = []

        def early(unit: Unit, name: str = name, parts: list[str] = parts) -> None:
            parts.append(f"{name}_part{len(parts) + 1}")
            dispatch(parts[-1], unit, hand_over=True)  # this thread goes on emitting

        with IR_LOCK:
            entries[name], first, rest = _emit(name, graph, spec, pipeline_for(graph), early)
        parts.insert(0, name)
        dispatch(name, first, compile_here=position == len(order) - 1)
        for unit in rest:
            parts.append(f"{name}_part{len(parts)}")
            dispatch(parts[-1], unit)
        if position == 0 and started is not None:
            started()
    for object_name in here:
        jobs[object_name] = units[object_name].compile(spec)
    texts = {name: "\n".join(text for part in parts for text in units[part].texts)
             for name, parts in parts_of.items()}
    done = {}
    for object_name, job in jobs.items():
        fresh = isinstance(job, Future) or object_name in here
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


def build_tiered(programs: Mapping[str, Graph], out_dir: str | os.PathLike[str], *, name: str = "model"
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
                   out_dir: str | os.PathLike[str], name: str, spec: TargetSpec, cases: set[support.GemmCase]
                   ) -> Path:
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


def _link(compiled: CompiledObject, out_dir: str | os.PathLike[str], name: str, spec: TargetSpec,
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
