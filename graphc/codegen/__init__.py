"""LLVM code generation: programs (Graphs) -> one object file, a shared library and a manifest.

The programs of a model form one LLVM module; the library links it with the support objects
(support.py: the GEMM kernels and the worker pool), which are model-independent and built in
the background while the model's IR is emitted. Objects and linked libraries are kept in the
on-disk cache (cache.py) keyed by the IR and the target, so a model compiled before, in this
process or another, costs only its IR emission.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llvmlite import ir

import graphc
from graphc.codegen import cache, support
from graphc.codegen.link import LinkError, link_shared
from graphc.codegen.program import ConstantPool, emit_program
from graphc.codegen.target import PIPELINE, compile_ir, target_spec
from graphc.ir.graph import Graph
from graphc.ir.verify import verify

__all__ = ["CompiledObject", "LinkError", "build_library", "compile_programs"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class CompiledObject:
    """The object code, its manifest and the LLVM IR it was compiled from (before optimization)."""

    object_code: bytes
    manifest: dict[str, Any]
    llvm_ir: str


def compile_programs(programs: Mapping[str, Graph], *, cpu: str | None = None) -> CompiledObject:
    """Lower every program into one LLVM module and compile it at O3 for `cpu` (default: host)."""
    if not programs:
        raise ValueError("compile_programs needs at least one program")
    spec = target_spec(cpu)
    support.prefetch(spec, support.gemm_cases(programs.values()))
    module = ir.Module(name="graphc")
    module.triple = spec.triple
    pool = ConstantPool(module)
    entries = {}
    for name, graph in programs.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"program name {name!r} is not a C identifier")
        verify(graph)
        entries[name] = emit_program(module, name, graph, pool)
    text = str(module)
    key = cache.cache_key(text, spec.triple, spec.cpu, spec.features, PIPELINE)
    object_code = cache.load(key, ".o")
    if object_code is None:
        object_code, _ = compile_ir(text, spec)
        cache.store(key, ".o", object_code)
    manifest = {"graphc_version": graphc.__version__, "target": spec.as_dict(), "programs": entries}
    return CompiledObject(object_code, manifest, text)


def build_library(
    programs: Mapping[str, Graph], out_dir: str | Path, *, name: str = "model", cpu: str | None = None
) -> Path:
    """Write <name>.o, lib<name>.so and <name>.manifest.json into out_dir; returns the .so path."""
    if not _NAME.match(name):
        raise ValueError(f"library name {name!r} is not a C identifier")
    compiled = compile_programs(programs, cpu=cpu)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    object_path = out / f"{name}.o"
    so_path = out / f"lib{name}.so"
    object_path.write_bytes(compiled.object_code)
    supports = support.support_objects(target_spec(cpu), support.gemm_cases(programs.values()), out)
    key = cache.cache_key(compiled.object_code, *(path.read_bytes() for path in supports))
    linked = cache.load(key, ".so")
    if linked is None:
        link_shared([object_path, *supports], so_path)
        cache.store(key, ".so", so_path.read_bytes())
    else:
        so_path.write_bytes(linked)
    (out / f"{name}.manifest.json").write_text(json.dumps(compiled.manifest, indent=2))
    return so_path
