"""LLVM code generation: programs (Graphs) -> object files, a shared library and a manifest.

Each program is one LLVM module and one object; the library links them with the support
objects (support.py: the GEMM kernels and the worker pool), which are model-independent. A cold
build compiles these modules side by side: every module but the last in a child process,
started as soon as its IR is emitted, the last one here. Objects and linked libraries are kept
in the on-disk cache (cache.py) keyed by the IR and the target, so a model compiled before, in
this process or another, costs only its IR emission.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llvmlite import ir

import graphc
from graphc.codegen import background, cache, support
from graphc.codegen.link import LinkError, link_shared
from graphc.codegen.program import ConstantPool, emit_program
from graphc.codegen.target import PIPELINE, TargetSpec, compile_ir, compile_ir_in_subprocess, target_spec
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


def compile_programs(programs: Mapping[str, Graph], *, cpu: str | None = None) -> CompiledObject:
    """Lower each program into its own LLVM module and compile them at O3 for `cpu` (default: host)."""
    if not programs:
        raise ValueError("compile_programs needs at least one program")
    for name in programs:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"program name {name!r} is not a C identifier")
    spec = target_spec(cpu)
    entries, texts = {}, {}
    objects: dict[str, bytes | Future[bytes]] = {}
    # Largest first, each compiling in a child as soon as it is emitted; the last (smallest) here.
    order = sorted(programs.items(), key=lambda item: -len(item[1].nodes))
    for position, (name, graph) in enumerate(order):
        verify(graph)
        module = ir.Module(name=f"graphc_{name}")
        module.triple = spec.triple
        entries[name] = emit_program(module, name, graph, ConstantPool(module))
        texts[name] = text = str(module)
        cached = cache.load(_object_key(text, spec), ".o")
        if cached is not None:
            objects[name] = cached
        elif position < len(order) - 1:
            objects[name] = background.submit(_compile_module, text, spec, True)
        else:
            objects[name] = _compile_module(text, spec, False)
    done = {name: code if isinstance(code, bytes) else code.result() for name, code in objects.items()}
    manifest = {"graphc_version": graphc.__version__, "target": spec.as_dict(),
                "programs": {name: entries[name] for name in programs}}
    in_order = {name: done[name] for name in programs}
    return CompiledObject(in_order, manifest, {name: texts[name] for name in programs})


def _object_key(text: str, spec: TargetSpec) -> str:
    return cache.cache_key(text, spec.triple, spec.cpu, spec.features, PIPELINE)


def _compile_module(text: str, spec: TargetSpec, in_child: bool) -> bytes:
    code = compile_ir_in_subprocess(text, spec) if in_child else compile_ir(text, spec)[0]
    cache.store(_object_key(text, spec), ".o", code)
    return code


def build_library(
    programs: Mapping[str, Graph], out_dir: str | Path, *, name: str = "model", cpu: str | None = None
) -> Path:
    """Write the objects, lib<name>.so and <name>.manifest.json into out_dir; returns the .so path."""
    if not _NAME.match(name):
        raise ValueError(f"library name {name!r} is not a C identifier")
    spec, cases = target_spec(cpu), support.gemm_cases(programs.values())
    support.prefetch(spec, cases)
    compiled = compile_programs(programs, cpu=cpu)
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
    (out / f"{name}.manifest.json").write_text(json.dumps(compiled.manifest, indent=2))
    return so_path
