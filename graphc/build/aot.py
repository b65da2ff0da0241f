"""Ahead-of-time compilation of a model into a folder a C program or a numpy-only Python can use.

The folder holds lib<name>.so, <name>.o (the same code as one relocatable object, for static
linking; its shared internals are local symbols, so several models link into one program),
<name>.h (the C API), <name>_api.c (its source, for reference), <name>.manifest.json (shapes,
dtypes, workspace sizes, target, version) and, when the weights are not embedded, <name>.weights.
The programs are the ones `fit`/`predict` compile in process, so on the same target the library
computes exactly what the in-process model computes; a stateful model's context carries its
layers' states from call to call as the in-process model does (the manifest's "stateful").
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphc_runtime import atomic
from graphc_runtime.manifest import API_FIELDS, library_manifest, pool_symbols

import graphc
from graphc.build.aot_c import generate, program_symbol
from graphc.build.aot_c_template import STATUS_CODES
from graphc.build.aot_source import ModelPrograms, aot_programs
from graphc.build.aot_weights import layout_hash, weights_file, weights_object
from graphc.build.loader import resolve_model
from graphc.codegen import compile_programs
from graphc.codegen.link import c_compiler, link_shared, localize_internals, run_tool
from graphc.codegen.support import gemm_cases, prefetch, support_objects
from graphc.codegen.target import target_spec
from graphc.frontend.layers.base import STATE_ROWS
from graphc.frontend.models import Model

__all__ = ["AotBuild", "compile_model"]

WEIGHTS_THRESHOLD = 16 * 2**20  # "auto" embeds parameters up to this many bytes
WEIGHTS_MODES = ("embed", "file", "auto")
PORTABLE_TARGETS = {"generic": "x86-64", "x86-64": "x86-64", "x86-64-v2": "x86-64-v2",
                    "x86-64-v3": "x86-64-v3", "x86-64-v4": "x86-64-v4"}
CFLAGS = ("-std=c11", "-O2", "-fPIC", "-Wall", "-Wextra")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CPU_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")


@dataclass
class AotBuild:
    """The paths of one build and its manifest."""

    directory: Path
    library: Path
    object: Path
    header: Path
    manifest_path: Path
    weights: Path | None
    manifest: dict[str, Any]


def cpu_for_target(target: str) -> str | None:
    """None (the host CPU with its exact features) for "host", else an LLVM CPU name."""
    if not isinstance(target, str) or not _CPU_NAME.match(target):
        raise ValueError(f"target must be 'host', 'generic', 'x86-64-v3' or an LLVM CPU name, got {target!r}")
    if target in ("host", "native"):
        return None
    return PORTABLE_TARGETS.get(target, target)


def compile_model(model_or_path: Model | str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                  name: str = "model", with_training: bool = False, target: str = "host",
                  weights: str = "auto", weights_threshold: int = WEIGHTS_THRESHOLD) -> AotBuild:
    """Compile a model (object, saved .h5, or Python file defining build_model()) into out_dir.

    name: the C prefix of the API (`<name>_predict`, ...). target: "host" (this CPU), "generic"
    (any x86-64), "x86-64-v3" (AVX2 machines) or an LLVM CPU name. weights: "embed" (read-only
    data in the object), "file" (<name>.weights, read at context creation) or "auto" (embed up
    to weights_threshold bytes).
    """
    if not isinstance(name, str) or not _IDENTIFIER.match(name) or name.startswith("graphc"):
        raise ValueError(f"name must be a C identifier not starting with 'graphc', got {name!r}")
    if weights not in WEIGHTS_MODES:
        raise ValueError(f"weights must be one of {WEIGHTS_MODES}, got {weights!r}")
    cpu = cpu_for_target(target)
    model = resolve_model(model_or_path)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"graphc compile: model {model.name!r} has {len(model.inputs)} inputs and "
                         f"{len(model.outputs)} outputs; the C API takes one input and one output array per "
                         "call, so models with several inputs or outputs do not compile ahead of time yet "
                         "(they train and predict in Python)")
    programs = aot_programs(model, with_training)
    spec, cases = target_spec(cpu), gemm_cases(programs.graphs.values())
    compiled = compile_programs({f"{name}_{p}": g for p, g in programs.graphs.items()}, cpu=cpu,
                                started=lambda: prefetch(spec, cases))
    entries = {p: compiled.manifest["programs"][f"{name}_{p}"] for p in programs.graphs}
    param_bytes = 4 * sum(p.value.size for p in programs.params)
    embedded = weights == "embed" or (weights == "auto" and param_bytes <= weights_threshold)
    out = Path(out_dir)
    header, source = out / f"{name}.h", out / f"{name}_api.c"
    object_path, library = out / f"{name}.o", out / f"lib{name}.so"
    weights_path = None if embedded else out / f"{name}.weights"
    manifest = _manifest(name, model, programs, entries, spec.as_dict(), target, embedded, param_bytes,
                         {"object": object_path.name, "header": header.name, "source": source.name,
                          "weights": weights_path.name if weights_path else None}, library.name)
    api = generate(name, model.name, programs, entries, spec.as_dict(), embedded, description(manifest))

    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(header, api.header)
    atomic.write_text(source, api.source)
    with tempfile.TemporaryDirectory(prefix="graphc-aot-") as tmp:
        api_object = Path(tmp) / "api.o"
        run_tool([c_compiler(), *CFLAGS, f"-I{out}", "-c", str(source), "-o", str(api_object)])
        objects = {f"{program}.o": code for program, code in compiled.objects.items()}
        if embedded:
            objects["weights.o"] = weights_object(f"{name}_weights_data", programs.params, spec)
        objects |= support_objects(spec, cases)
        parts = [api_object]
        for file_name, code in objects.items():
            parts.append(Path(tmp) / file_name)
            parts[-1].write_bytes(code)
        run_tool([c_compiler(), "-r", "-nostdlib", "-o", str(object_path), *map(str, parts)])
    localize_internals(object_path)
    with atomic.replacing(library) as linked:
        link_shared([object_path], linked)
    if weights_path is not None:
        atomic.write_bytes(weights_path, weights_file(programs.params))
    manifest_path = out / f"{name}.manifest.json"
    atomic.write_text(manifest_path, json.dumps(manifest, indent=2))
    return AotBuild(out, library, object_path, header, manifest_path, weights_path, manifest)


def description(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest fields a loader relies on for memory safety, embedded in the library itself."""
    return {key: manifest[key] for key in API_FIELDS}


def _io(arg: dict[str, Any]) -> dict[str, Any]:
    return {"name": arg["name"], "shape": arg["shape"], "dtype": arg["dtype"]}


def _manifest(name: str, model: Model, programs: ModelPrograms, entries: dict[str, Any],
              target: dict[str, str], requested: str, embedded: bool, param_bytes: int,
              files: dict[str, str | None], library: str) -> dict[str, Any]:
    """The one library manifest (graphc_runtime.manifest) with this build's C API description.

    Its programs are the in-process ones under their exported names (<name>_program_<program>):
    graphc_runtime.Library loads this library as it loads the one `fit` runs."""
    predict = entries["predict"]
    training = None
    if "train_step" in entries:
        train = entries["train_step"]
        label = next(a for a in train["args"] if a["kind"] == "input" and a["name"] == "y")
        hyperparameters = {k.removeprefix("hp/"): v for k, v in programs.hyperparameters.items()}
        training = {"labels": _io(label), "logs": [n.removeprefix("metric/") for n in programs.logs],
                    "hyperparameters": hyperparameters,
                    "workspace": _workspace(train), "loss": _loss_name(model),
                    "optimizer": type(model.optimizer).__name__}
    exported = {program: {**entry, "symbol": program_symbol(name, program)}
                for program, entry in entries.items()}
    return library_manifest(
        exported, graphc_version=graphc.__version__, target={"requested": requested, **target},
        library=library, pool=pool_symbols(name), files=files, name=name, model=model.name,
        inputs=[_io(a) for a in predict["args"] if a["kind"] == "input" and a["name"] != STATE_ROWS],
        outputs=[_io(a) for a in predict["args"] if a["kind"] == "output"],
        workspace=_workspace(predict),
        params=[{"name": p.name, "shape": list(p.shape), "dtype": "float32"} for p in programs.params],
        weights={"mode": "embedded" if embedded else "file", "bytes": param_bytes,
                 "layout_hash": f"{layout_hash(programs.params):#018x}"},
        training=training, stateful=_stateful(programs),
        status_codes={str(code): list(entry) for code, entry in STATUS_CODES.items()})


def _stateful(programs: ModelPrograms) -> dict[str, Any] | None:
    """A stateful model's one batch size and the states its context carries from call to call
    (which `<name>_reset_states` zeroes); None for a model without them."""
    if not programs.carried:
        return None
    shapes = programs.states_by_name
    return {"batch_size": programs.stateful_batch,
            "states": [{"name": name, "shape": list(shapes[name].shape)} for name in programs.carried]}


def _workspace(entry: dict[str, Any]) -> dict[str, int]:
    return {"static_bytes": entry["workspace"]["static_bytes"],
            "per_batch_bytes": entry["workspace"]["per_batch_bytes"]}


def _loss_name(model: Model) -> str:
    loss = model.loss
    return loss if isinstance(loss, str) else getattr(loss, "name", None) or getattr(loss, "__name__", "?")
