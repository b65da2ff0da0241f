"""LLVM code generation: programs (Graphs) -> object files, a shared library and a manifest.

Each program becomes one object, or several for a large FULL program (its kernels grouped by
pipeline and LLVM work, _emit); the library links them with the support objects (support.py: the
GEMM kernels and the worker pool), which are model-independent. A cold build compiles these units
side by side: every unit but the last program's first goes to the LLVM workers (llvm_workers.py),
a large kernel as soon as it is emitted, the others once their program is; that one compiles
here. Objects and linked libraries are kept in the on-disk cache (cache.py) keyed by the IR and
the target, so a model compiled before, in this process or another, costs only its IR emission.

A model's first call can take a tiered build (build_tiered): the tiered units (small programs, which
compile at LIGHT, and the short kernels of large inference programs, at FULL) are compiled by the
much cheaper QUICK pipeline first and by their own on an LLVM child meanwhile; the caller swaps
libraries when the second is linked. Both compute the same bits: those modules carry no fast-math
flag (LIGHT ones are not vectorized, so reassociation buys them nothing; short sums are added in a
fixed order), and without one every LLVM pass keeps IEEE semantics.
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
from graphc.codegen.target import FULL, LIGHT, QUICK, Pipeline, TargetSpec, compile_ir, target_spec
from graphc.ir.graph import Graph
from graphc.ir.verify import verify
from graphc.passes.kernels import Kernel

__all__ = ["CompiledObject", "LinkError", "build_library", "build_tiered", "compile_programs", "start_build"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Unit:
    """What one object file is compiled from: LLVM modules linked into one, the functions that stay
    external (`keep`; the rest become internal), whether those are hidden, the pipeline, and whether
    a first call may run it compiled at QUICK meanwhile (`tiered`: its modules carry no fast-math
    flag, so both compute the same bits)."""

    texts: tuple[str, ...]
    keep: frozenset[str]
    hidden: bool
    pipeline: Pipeline
    tiered: bool = False

    def key(self, spec: TargetSpec) -> str:
        return cache.cache_key(*self.texts, ",".join(sorted(self.keep)), str(self.hidden), spec.triple,
                               spec.cpu, spec.features, self.pipeline.key)

    def submit(self, spec: TargetSpec, hand_over: bool = False) -> Future[bytes]:
        return llvm_workers.submit(self.texts, spec, hidden=self.hidden, pipeline=self.pipeline,
                                   keep=self.keep, hand_over=hand_over)

    def compile(self, spec: TargetSpec) -> bytes:
        return compile_ir(self.texts, spec, hidden=self.hidden, pipeline=self.pipeline, keep=self.keep)


@dataclass
class CompiledObject:
    """The object code by object name (a program's first object has the program's name, its other
    parts `<program>_part<i>`), the manifest, and per program the LLVM IR of its modules (before
    optimization)."""

    objects: dict[str, bytes]
    manifest: dict[str, Any]
    llvm_ir: dict[str, str]
    units: dict[str, Unit] = field(default_factory=dict)  # what each object was compiled from
    quick: dict[str, Unit] = field(default_factory=dict)  # objects compiled at QUICK: their own units


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


def tiered_kernel(graph: Graph, kernel: Kernel) -> bool:
    """Whether a kernel of a FULL inference program (no state updates) is short: every value its own
    loops visit has at most SHORT_ELEMENTS per sample (a softmax over 10 classes, a 10-wide Dense's
    epilogue; the operands of a node whose lowering calls a shared kernel, the GEMM's, are that
    kernel's). Its module carries no fast-math flag (its short sums are added in a fixed order,
    lowering/reduce.py), so a first call can run it compiled at QUICK while FULL compiles it.

    Such kernels are ~8 ms of LLVM each at FULL and ~1 at QUICK, and their loops, one vector long,
    lose little unvectorized for a call or two. At LIGHT for good they cost 2-4% of every predict
    (the MLP's at batch 10,000). A training step's are not tiered: its later steps would share the
    machine with the background build."""
    if pipeline_for(graph) is not FULL or graph.updates:
        return False
    visited = [*kernel.nodes]
    for node in kernel.nodes:
        lowering = find_lowering(node.op)
        if lowering is None or lowering.shared is None:
            visited += [n for n in node.inputs if n not in kernel.nodes]
    return all(node.type.static_numel <= SHORT_ELEMENTS for node in visited)


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
    QUICK a module costs about an eighth of it."""
    per_character = 0.27 if _by_vector(text) else 0.55
    return int(1500 + 2800 * text.count(".header:") + per_character * len(text))


QUICK_SHARE = 0.12  # of _llvm_cost


class _KernelTexts:
    """A FULL program's kernel modules as texts by function, `tiered` ones (tiered_kernel) apart. A
    kernel whose LLVM work is worth a job on its own (SPLIT_COST) goes to `early` the moment it is
    emitted, so that a child compiles it while this thread emits the rest.

    (Kernels written with vectors, convolutions and pools, were tried at O1 like the GEMM: the
    tutorial CNN's fused convolution compiled in 27 ms instead of 33, but its predict and training
    step ran 1-3% slower.)"""

    def __init__(self, spec: TargetSpec, graph: Graph, early: Callable[[Unit], None]) -> None:
        self.spec, self.graph, self.early = spec, graph, early
        self.texts: dict[str, str] = {}
        self.tiered: dict[str, str] = {}
        self.short: dict[str, bool] = {}
        self.sent = 0  # the LLVM work handed to `early`

    def module(self, function: str, kernel: Kernel) -> ir.Module:
        self.short[function] = tiered_kernel(self.graph, kernel)
        module = ir.Module(name=function)
        module.triple = self.spec.triple
        return module

    def done(self, module: ir.Module) -> None:
        if self.short[module.name]:
            _without_fast_math(module)
            self.tiered[module.name] = str(module)
            return
        text = str(module)
        cost = _llvm_cost(text)
        if cost < SPLIT_COST:
            self.texts[module.name] = text
            return
        self.sent += cost
        self.early(Unit((text,), frozenset({module.name}), True, FULL))


def _emit(name: str, graph: Graph, spec: TargetSpec, pipeline: Pipeline, early: Callable[[Unit], None],
          quick: bool) -> tuple[dict[str, Any], Unit, list[Unit]]:
    """The program's manifest entry, its first unit (the one holding the entry function) and the rest.

    A FULL program's kernels are emitted as modules of their own. One whose LLVM work alone is
    SPLIT_COST or more goes to `early` as a unit of its own when emitted; the short ones form a
    tiered unit; past SPLIT_COST in all, the others form two groups balanced by their LLVM work
    (_llvm_cost; largest first, each to the lighter group, the other units counting in the second,
    the tiered one at QUICK's share if `quick`), so that the units compile side by side with about
    half of it each. Decided by the IR alone, on any machine.

    (Short kernels were tried at LIGHT in training steps too: the MLP's step at batch 128 ran 3-6%
    slower, its 10-wide loops over the batch no longer vectorized, for ~8 ms of LLVM time each.)"""
    entry = ir.Module(name=f"graphc_{name}")
    entry.triple = spec.triple
    sink = _KernelTexts(spec, graph, early) if pipeline is FULL else None
    manifest = emit_program(entry, name, graph, ConstantPool(entry), sink=sink)
    if pipeline is LIGHT:
        _without_fast_math(entry)
    entry_text = str(entry)
    entry_keep = frozenset({f"graphc_{name}"})
    if sink is None:
        return manifest, Unit((entry_text,), entry_keep, False, pipeline, tiered=pipeline is LIGHT), []
    texts = sink.texts
    short = Unit(tuple(sink.tiered.values()), frozenset(sink.tiered), True, FULL, tiered=True)
    sent = sink.sent + sum(int(_llvm_cost(text) * (QUICK_SHARE if quick else 1)) for text in short.texts)
    costs = {function: _llvm_cost(text) for function, text in texts.items()}
    groups: list[list[str]] = [list(texts)]
    if sent + sum(costs.values()) > SPLIT_COST:
        groups, loads = [[], []], [_llvm_cost(entry_text), sent]
        for function in sorted(texts, key=lambda f: -costs[f]):
            lighter = loads.index(min(loads))
            groups[lighter].append(function)
            loads[lighter] += costs[function]
    first = Unit((entry_text, *(texts[f] for f in groups[0])), entry_keep, False, pipeline)
    rest = [Unit(tuple(texts[f] for f in group), frozenset(group), True, pipeline) for group in groups[1:]]
    return manifest, first, [unit for unit in [*rest, short] if unit.texts]


def compile_programs(
    programs: Mapping[str, Graph], *, cpu: str | None = None, started: Callable[[], None] | None = None,
    quick: bool = False,
) -> CompiledObject:
    """Lower each program into LLVM modules and compile them for `cpu` (default: host) with the
    pipelines its sizes call for (pipeline_for, _KernelTexts), or, if `quick`, QUICK for the units
    that are tiered (a LIGHT program's, a FULL inference program's short kernels).

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
    quick_ones: dict[str, Unit] = {}
    jobs: dict[str, bytes | Future[bytes]] = {}
    here: list[str] = []  # the object this thread compiles: the last program's first

    def dispatch(object_name: str, unit: Unit, compile_here: bool = False, hand_over: bool = False) -> None:
        units[object_name] = unit
        cached = cache.load(unit.key(spec), ".o")
        if cached is not None:
            jobs[object_name] = cached
            return
        if quick and unit.tiered:
            units[object_name] = Unit(unit.texts, unit.keep, unit.hidden, QUICK)
            quick_ones[object_name] = unit
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
            entries[name], first, rest = _emit(name, graph, spec, pipeline_for(graph), early, quick)
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
    """build_library for the host, sooner: lib<name>.so with QUICK code for the tiered units not in
    the cache (a LIGHT program's, a FULL inference program's short kernels), and then the Future of
    build_library's own library (same programs, manifest and results), linked as lib<name>_full.so
    while the caller runs the first.

    The Future is None when nothing was compiled at QUICK (then the first library is final).
    """
    if not _NAME.match(name):
        raise ValueError(f"library name {name!r} is not a C identifier")
    spec, cases = start_build(programs)
    compiled = compile_programs(programs, started=lambda: support.prefetch(spec, cases), quick=True)
    first = _link(compiled, out_dir, name, spec, cases)
    if not compiled.quick:
        return first, None
    units = dict(compiled.quick)
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
