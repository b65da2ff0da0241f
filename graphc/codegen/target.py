"""The LLVM target machine, the O3 pipeline and object emission.

llvmlite serializes every LLVM call behind one lock, so two modules cannot be compiled at once
in one process. `compile_ir_in_subprocess` runs this file as a script instead (it imports
nothing but llvmlite, so the child starts in ~60 ms), which lets the support objects compile on
the second core while the model's own module compiles here.
"""

from __future__ import annotations

import subprocess
import sys
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


def target_machine(spec: TargetSpec) -> llvm.TargetMachine:
    _initialize()
    target = llvm.Target.from_triple(spec.triple)
    return target.create_target_machine(
        cpu=spec.cpu, features=spec.features, opt=3, reloc="pic", codemodel="default"
    )


PIPELINE = "o3+lv+slp-unroll-interleave"  # part of the cache key: change it when the options change


def optimize(module: llvm.ModuleRef, machine: llvm.TargetMachine) -> None:
    """The O3 module pipeline with loop and SLP vectorization, without loop unrolling and interleaving.

    The hot loops are already unrolled by hand (GEMM tiles) or vectorized 16 wide; unrolling
    every pointwise loop again tripled the object size and made code emission ~4x slower
    (MLP training step: 3.7 s -> 1.2 s cold) for no measurable speed.
    """
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = True
    options.slp_vectorization = True
    options.loop_unrolling = False
    options.loop_interleaving = False
    builder = llvm.create_pass_builder(machine, options)
    builder.getModulePassManager().run(module, builder)


def compile_ir(ir_text: str, spec: TargetSpec, *, hidden: bool = False) -> tuple[bytes, str]:
    """Parse, verify, optimize and emit an object file; returns (object bytes, optimized IR).

    hidden: give every function the module defines hidden visibility (linked into a library
    but not exported by it).
    """
    machine = target_machine(spec)
    module = llvm.parse_assembly(ir_text)
    module.triple = spec.triple
    module.data_layout = str(machine.target_data)
    module.verify()
    if hidden:
        for function in module.functions:
            if not function.is_declaration and function.linkage == llvm.Linkage.external:
                function.visibility = "hidden"
    optimize(module, machine)
    return machine.emit_object(module), str(module)


def compile_ir_in_subprocess(ir_text: str, spec: TargetSpec, *, hidden: bool = False) -> bytes:
    """compile_ir in a child Python (see the module docstring); in process if the child cannot run."""
    visibility = "hidden" if hidden else "exported"
    command = [sys.executable, __file__, spec.triple, spec.cpu, spec.features, visibility]
    try:
        done = subprocess.run(command, input=ir_text.encode(), capture_output=True, check=False)
    except OSError:
        done = None
    if done is None or done.returncode != 0 or not done.stdout:
        return compile_ir(ir_text, spec, hidden=hidden)[0]
    return done.stdout


def _main(argv: list[str]) -> None:
    """Child side of compile_ir_in_subprocess: IR text on stdin, the object file on stdout."""
    triple, cpu, features, visibility = argv
    code, _ = compile_ir(sys.stdin.buffer.read().decode(), TargetSpec(triple, cpu, features),
                         hidden=visibility == "hidden")
    sys.stdout.buffer.write(code)


if __name__ == "__main__":
    _main(sys.argv[1:])
