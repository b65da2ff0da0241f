"""The LLVM target machine, the optimization pipelines and object emission.

Also the child compiler of llvm_workers.py: run as a script with `--serve`, this file imports
nothing but llvmlite (and the standard library), so the child starts quickly.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cache

import llvmlite.binding as llvm


@cache
def _initialize() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


@dataclass(frozen=True)
class TargetSpec:
    triple: str
    cpu: str
    features: str

    def as_dict(self) -> dict[str, str]:
        return {"triple": self.triple, "cpu": self.cpu, "features": self.features}


def target_spec(cpu: str | None = None) -> TargetSpec:
    """The host CPU and its exact features by default; a named CPU gets that CPU's defaults."""
    _initialize()
    host = llvm.get_host_cpu_name()
    if cpu is None or cpu == host:
        return TargetSpec(llvm.get_process_triple(), host, llvm.get_host_cpu_features().flatten())
    return TargetSpec(llvm.get_process_triple(), cpu, "")


def target_machine(spec: TargetSpec, codegen_level: int = 3) -> llvm.TargetMachine:
    _initialize()
    target = llvm.Target.from_triple(spec.triple)
    return target.create_target_machine(
        cpu=spec.cpu, features=spec.features, opt=codegen_level, reloc="pic", codemodel="default"
    )


@dataclass(frozen=True)
class Pipeline:
    """How hard LLVM works on a module: the module pipeline (-O1..-O3), loop and SLP vectorization,
    and the code generator's level (0 is fast instruction selection and register allocation)."""

    speed_level: int
    vectorize: bool
    codegen_level: int

    @property
    def key(self) -> str:
        """Part of every cache key: change it when the options change."""
        vectorize = "+lv+slp" if self.vectorize else ""
        return f"O{self.speed_level}{vectorize}-unroll-interleave-cg{self.codegen_level}"


FULL = Pipeline(3, True, 3)
# Small programs (every value and parameter of at most SMALL_ELEMENTS per sample): their loops are
# a few vectors long, and vectorizing them was half of a tiny model's compile (4-16-3 training
# step: 265 ms at FULL, 67 ms here) for no measurable speed at the batch sizes they train with.
LIGHT = Pipeline(1, False, 0)
PIPELINE = "full-or-light-1"  # the rule choosing between them: part of the recorded-graph cache key
# A first tier for what LIGHT compiles (codegen/__init__.py, build_tiered): inlining, SROA, InstCombine
# and SimplifyCFG alone take a tiny model's training step from ~45 ms of LLVM work to ~4 ms. Its code is
# slower (a 10,000-row predict of a 4-16-3 model ~35%) but computes the same bits, since LIGHT modules
# carry no fast-math flag and every pass keeps IEEE semantics without one.
QUICK = Pipeline(0, False, 0)


def optimize(module: llvm.ModuleRef, machine: llvm.TargetMachine, pipeline: Pipeline = FULL) -> None:
    """The module pipeline, with loop and SLP vectorization when asked, never loop unrolling or
    interleaving.

    The hot loops are already unrolled by hand (GEMM tiles) or vectorized 16 wide; unrolling
    every pointwise loop again tripled the object size and made code emission ~4x slower
    (MLP training step: 3.7 s -> 1.2 s cold) for no measurable speed. Code written vector by
    vector (the GEMM) runs as fast after the O1 pipeline, which takes a third less time.
    """
    if pipeline.speed_level == 0:
        _quick(module, machine)
        return
    options = llvm.create_pipeline_tuning_options(speed_level=pipeline.speed_level)
    options.loop_vectorization = pipeline.vectorize
    options.slp_vectorization = pipeline.vectorize
    options.loop_unrolling = False
    options.loop_interleaving = False
    builder = llvm.create_pass_builder(machine, options)
    builder.getModulePassManager().run(module, builder)


def _quick(module: llvm.ModuleRef, machine: llvm.TargetMachine) -> None:
    """QUICK's passes: inline the always-inlined range functions, allocas to registers, peephole, CFG."""
    builder = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=0))
    passes = llvm.create_new_module_pass_manager()
    passes.add_always_inliner_pass()
    passes.add_sroa_pass()
    passes.add_instruction_combine_pass()
    passes.add_simplify_cfg_pass()
    passes.run(module, builder)


def compile_ir(
    ir_text: str | Sequence[str], spec: TargetSpec, *, hidden: bool = False, pipeline: Pipeline = FULL,
    keep: Collection[str] | None = None,
) -> bytes:
    """Parse, link (several texts become one module), verify, optimize and emit an object file.

    keep: the functions that stay external (called from other objects or exported); every other
    function the module defines becomes internal. None keeps linkages as written.
    hidden: give every external function the module defines hidden visibility (linked into a library
    but not exported by it).
    """
    machine = target_machine(spec, pipeline.codegen_level)
    return machine.emit_object(_optimized(ir_text, spec, machine, hidden, pipeline, keep))


def optimized_ir(ir_text: str | Sequence[str], spec: TargetSpec, *, hidden: bool = False,
                 pipeline: Pipeline = FULL, keep: Collection[str] | None = None) -> str:
    """The IR compile_ir optimizes, after the pipeline: to inspect what LLVM made of it. (Printing
    it is not part of a build: a fused convolution's takes ~0.7 ms.)"""
    machine = target_machine(spec, pipeline.codegen_level)
    return str(_optimized(ir_text, spec, machine, hidden, pipeline, keep))


def _optimized(ir_text: str | Sequence[str], spec: TargetSpec, machine: llvm.TargetMachine, hidden: bool,
               pipeline: Pipeline, keep: Collection[str] | None) -> llvm.ModuleRef:
    texts = [ir_text] if isinstance(ir_text, str) else list(ir_text)
    module = llvm.parse_assembly(texts[0])
    for text in texts[1:]:
        module.link_in(llvm.parse_assembly(text))
    module.triple = spec.triple
    module.data_layout = str(machine.target_data)
    module.verify()
    for function in module.functions:
        if function.is_declaration:
            continue
        if keep is not None and function.name not in keep:
            function.linkage = llvm.Linkage.internal
        if hidden and function.linkage == llvm.Linkage.external:
            function.visibility = "hidden"
    optimize(module, machine, pipeline)
    return module


def _serve() -> None:
    """The child side of llvm_workers.py: compile requests from stdin until it closes."""
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    while line := requests.readline():
        header = json.loads(line)
        texts = [requests.read(size).decode() for size in header["sizes"]]
        spec = TargetSpec(header["triple"], header["cpu"], header["features"])
        pipeline = Pipeline(header["speed_level"], header["vectorize"], header["codegen_level"])
        try:
            code = compile_ir(texts, spec, hidden=header["hidden"], pipeline=pipeline, keep=header["keep"])
        except Exception as error:  # noqa: BLE001 - the parent compiles again in process and raises it
            replies.write(json.dumps({"ok": False, "error": str(error)}).encode() + b"\n")
        else:
            replies.write(json.dumps({"ok": True, "size": len(code)}).encode() + b"\n" + code)
        replies.flush()


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    _serve()
