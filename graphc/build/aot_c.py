"""The C side of an AOT build: the model's header and the C API source over its programs."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import prod
from typing import Any

import graphc
from graphc.build.aot_c_template import HEADER, SOURCE, STATEFUL_NOTE, STATUS_CODES
from graphc.build.aot_source import ModelPrograms, StateInfo
from graphc.build.aot_weights import HEADER_BYTES, MAGIC, VERSION, layout_hash
from graphc.frontend.layers.base import STATE_ROWS
from graphc.frontend.optimizers.step import COMPLEMENT_PREFIX

ALIGN_FLOATS = 16  # every state starts on a 64-byte boundary
HP_PREFIX = "hp/"
MAX_RANK = 8


@dataclass
class CApi:
    header: str
    source: str
    state_floats: int


def _c_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal of ASCII text is a valid C string literal


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"AOT build: initial value {value!r} is not finite")
    return f"{float(value)!r}f"


def _dims(shape: Sequence[int | None]) -> str:
    return ", ".join("batch" if d is None else str(d) for d in shape)


def _layout(states: Sequence[StateInfo]) -> tuple[dict[str, int], int]:
    """Offsets counted in floats (4 bytes); an int64 state takes two floats per element."""
    offsets, total = {}, 0
    for state in states:
        offsets[state.name] = total
        floats = max(prod(state.shape), 1) * (2 if state.dtype == "int64" else 1)
        total += -(-floats // ALIGN_FLOATS) * ALIGN_FLOATS
    return offsets, total


def generate(prefix: str, model_name: str, programs: ModelPrograms, entries: Mapping[str, Mapping[str, Any]],
             target: Mapping[str, str], embedded: bool, description: Mapping[str, Any]) -> CApi:
    """The header and source for programs compiled with entry symbols graphc_<prefix>_<program>.

    `description` (what a loader must agree on: shapes, parameters, workspace) is embedded as
    the JSON that <prefix>_describe() returns.
    """
    upper = prefix.upper()
    predict = entries["predict"]
    x_spec = _arg(predict, "input", "x")
    y_spec = _arg(predict, "output")
    offsets, state_floats = _layout(programs.states)
    training = "train_step" in entries
    defines = _defines(upper, x_spec, y_spec, predict, programs, embedded, training, entries)
    substitutions = {
        "@MODEL@": model_name.replace("*/", "* /"), "@VERSION@": graphc.__version__,
        "@CPU@": target["cpu"], "@TRIPLE@": target["triple"],
        "@INPUT_DIMS@": _dims(x_spec["shape"][1:]), "@OUTPUT_DIMS@": _dims(y_spec["shape"][1:]),
        "@STATUS_DEFINES@": "\n".join(f"#define {name} {code} /* {text} */"
                                      for code, (name, text) in STATUS_CODES.items()),
        "@STATUS_CASES@": "\n".join(f"    case {name}: return {_c_string(text)};"
                                    for name, text in STATUS_CODES.values()),
        "@DEFINES@": "\n".join(defines),
        "@TABLES@": _tables(prefix, programs, offsets, state_floats, entries, embedded),
        "@RUNNERS@": _runners(prefix, entries, offsets, programs),
        "@PROGRAM_DECLARATIONS@": "\n".join(f"{_program_signature(prefix, name)};" for name in entries),
        "@DESCRIPTION@": _c_string(json.dumps(description, sort_keys=True)),
        "@STATEFUL_NOTE@": STATEFUL_NOTE if programs.carried else "",
    }
    header, source = HEADER, SOURCE
    for key, value in substitutions.items():
        header, source = header.replace(key, value), source.replace(key, value)
    header, source = (text.replace("@PU@", upper).replace("@P@", prefix) for text in (header, source))
    return CApi(header, source, state_floats)


def _arg(entry: Mapping[str, Any], kind: str, name: str | None = None) -> Mapping[str, Any]:
    args = [a for a in entry["args"] if a["kind"] == kind and (name is None or a["name"] == name)]
    if len(args) != 1 or args[0]["shape"][:1] != [None] or None in args[0]["shape"][1:]:
        raise ValueError(f"AOT builds need programs with one batched {kind}{f' {name!r}' if name else ''}; "
                         f"got {[(a['name'], a['shape']) for a in args]}")
    return args[0]


def _sample_size(spec: Mapping[str, Any]) -> int:
    return prod(spec["shape"][1:])


def _defines(upper: str, x_spec: Mapping[str, Any], y_spec: Mapping[str, Any], predict: Mapping[str, Any],
             programs: ModelPrograms, embedded: bool, training: bool,
             entries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = [
        f"#define {upper}_INPUT_RANK {len(x_spec['shape']) - 1}  /* dimensions per sample */",
        f"#define {upper}_INPUT_SIZE {_sample_size(x_spec)}  /* floats per sample */",
        f"#define {upper}_OUTPUT_RANK {len(y_spec['shape']) - 1}",
        f"#define {upper}_OUTPUT_SIZE {_sample_size(y_spec)}",
        f"#define {upper}_WORKSPACE_STATIC_BYTES {predict['workspace']['static_bytes']}",
        f"#define {upper}_WORKSPACE_PER_BATCH_BYTES {predict['workspace']['per_batch_bytes']}",
        f"#define {upper}_NUM_PARAMS {len(programs.params)}",
        f"#define {upper}_PARAM_FLOATS {sum(prod(p.shape) for p in programs.params)}",
        f"#define {upper}_WEIGHTS_EMBEDDED {int(embedded)}",
        f"#define {upper}_HAS_TRAINING {int(training)}",
        f"#define {upper}_NUM_LOGS {len(programs.logs)}",
        f"#define {upper}_INPUT_ID_LIMIT {programs.input_id_limit}  /* > 0: inputs are ids in [0, limit) */",
        f"#define {upper}_STATEFUL_BATCH {programs.stateful_batch}  /* > 0: stateful; every call takes "
        "exactly this batch */",
    ]
    if len(x_spec["shape"]) > 1:
        lines.insert(1, f"#define {upper}_INPUT_SHAPE {{{', '.join(map(str, x_spec['shape'][1:]))}}}")
    if len(y_spec["shape"]) > 1:
        lines.insert(4, f"#define {upper}_OUTPUT_SHAPE {{{', '.join(map(str, y_spec['shape'][1:]))}}}")
    label = _arg(entries["train_step"], "input", "y") if training else None
    lines.append(f"#define {upper}_LABEL_SIZE {_sample_size(label) if label else 0}  /* floats per label */")
    return lines


def _tables(prefix: str, programs: ModelPrograms, offsets: Mapping[str, int], state_floats: int,
            entries: Mapping[str, Mapping[str, Any]], embedded: bool) -> str:
    lines = [f"#define STATE_FLOATS {state_floats}",
             f"#define WEIGHTS_MAGIC {_c_string(MAGIC.decode())}",
             f"#define WEIGHTS_VERSION {VERSION}",
             f"#define WEIGHTS_HEADER_BYTES {HEADER_BYTES}",
             f"#define WEIGHTS_LAYOUT_HASH {layout_hash(programs.params):#x}ULL"]
    for name in entries:
        lines.append(f"int32_t graphc_{prefix}_{name}(int64_t batch, void **args, void *workspace);")
    if embedded:
        lines.append(f"extern const unsigned char {prefix}_weights_data[];")
    params, data_offset = [], 0
    for p in programs.params:
        if len(p.shape) > MAX_RANK:
            raise ValueError(f"parameter {p.name!r} has rank {len(p.shape)}; AOT builds allow at most "
                             f"{MAX_RANK}")
        shape = ", ".join(map(str, p.shape)) or "0"
        params.append(f"    {{{_c_string(p.name)}, {offsets[p.name]}, {data_offset}, {prod(p.shape)}, "
                      f"{len(p.shape)}, {{{shape}}}}},")
        data_offset += prod(p.shape)
    lines += _array("static const param_info PARAMS", params, "    {0}")
    fills = [_fill_row(s, offsets[s.name]) for s in programs.states if s.value is None and s.fill != 0]
    lines.append(f"#define NUM_FILLS {len(fills)}")
    lines += _array("static const state_fill FILLS", fills, "    {0}")
    carried = [f"    {{{offsets[name]}, {prod(programs.states_by_name[name].shape)}}},"
               for name in programs.carried]
    lines.append(f"#define NUM_CARRIED {len(carried)}")
    lines += _array("static const state_span CARRIED", carried, "    {0}")
    if programs.stateful_batch:  # the program input `state_rows`: batch row i reads and writes state row i
        rows = [", ".join(map(str, range(start, min(start + 16, programs.stateful_batch)))) + ","
                for start in range(0, programs.stateful_batch, 16)]
        lines += _array("static const int32_t STATE_ROW_INDICES", [f"    {row}" for row in rows], "")
    hp_names = [name.removeprefix(HP_PREFIX) for name in programs.hyperparameters]
    lines.append(f"#define NUM_HP {len(hp_names)}")
    lines += _array("static const char *const HP_NAMES", [f"    {_c_string(n)}," for n in hp_names], "    0")
    lines += _array("static const float HP_DEFAULTS",
                    [f"    {_float(v)}," for v in programs.hyperparameters.values()], "    0")
    base = {name: i for i, name in enumerate(hp_names)}
    complement_of = [base.get(name.removeprefix(COMPLEMENT_PREFIX), -1) if name.startswith(COMPLEMENT_PREFIX)
                     else -1 for name in hp_names]
    lines += _array("static const int32_t HP_COMPLEMENT_OF", [f"    {i}," for i in complement_of], "    -1")
    log_names = [name.removeprefix("metric/") for name in programs.logs]
    lines += _array("static const char *const LOG_NAMES", [f"    {_c_string(n)}," for n in log_names],
                    "    0")
    if "train_step" in entries:
        workspace = entries["train_step"]["workspace"]
        lines += [f"#define TRAIN_WORKSPACE_STATIC {workspace['static_bytes']}",
                  f"#define TRAIN_WORKSPACE_PER_BATCH {workspace['per_batch_bytes']}",
                  f"#define LABEL_CLASSES {label_classes(entries)}  /* > 0: labels are class indices */"]
    return "\n".join(lines)


def label_classes(entries: Mapping[str, Mapping[str, Any]]) -> int:
    """The class count when labels are class indices (a label of lower rank than the prediction), else 0."""
    label = _arg(entries["train_step"], "input", "y")
    prediction = _arg(entries["predict"], "output")
    return prediction["shape"][-1] if len(label["shape"]) < len(prediction["shape"]) else 0


def _fill_row(state: StateInfo, offset: int) -> str:
    if state.dtype == "float32":
        return f"    {{{offset}, {prod(state.shape)}, {_float(state.fill)}, 0, 0}},"
    return f"    {{{offset}, {prod(state.shape)}, 0.0f, {int(state.fill)}LL, 1}},"


def _array(declaration: str, rows: list[str], empty: str) -> list[str]:
    """C has no empty arrays: a table without rows gets one unused zero row."""
    return [f"{declaration}[] = {{", *(rows or [empty]), "};"]


def _runners(prefix: str, entries: Mapping[str, Mapping[str, Any]], offsets: Mapping[str, int],
             programs: ModelPrograms) -> str:
    hp_index = {name: i for i, name in enumerate(programs.hyperparameters)}
    log_index = {name: i for i, name in enumerate(programs.logs)}
    blocks = []
    for name, entry in entries.items():
        if name == "predict":  # a stateful model's predict writes the context: its carried states
            const = "" if programs.carried else "const "
            signature = (f"static int32_t run_predict({const}struct {prefix}_context *ctx, int64_t batch, "
                         "const float *x, float *y, void *workspace)")
        else:
            signature = (f"static int32_t run_{name}(struct {prefix}_context *ctx, int64_t batch, "
                         "const float *x, const float *y, float *logs, void *workspace)")
        body = [signature + " {", f"    void *args[{len(entry['args'])}];"]
        for i, arg in enumerate(entry["args"]):
            body.append(f"    args[{i}] = {_arg_pointer(name, arg, offsets, hp_index, log_index)};")
        body += [f"    return graphc_{prefix}_{name}(batch, args, workspace);", "}"]
        blocks.append("\n".join(body))
        blocks.append(f"{_program_signature(prefix, name)} {{\n"
                      f"    return graphc_{prefix}_{name}(batch, args, workspace);\n}}")
    return "\n\n".join(blocks)


def program_symbol(prefix: str, program: str) -> str:
    """The exported entry point of a program in an AOT library (graphc_* symbols are made local)."""
    return f"{prefix}_program_{program}"


def _program_signature(prefix: str, program: str) -> str:
    return f"int32_t {program_symbol(prefix, program)}(int64_t batch, void **args, void *workspace)"


def _arg_pointer(program: str, arg: Mapping[str, Any], offsets: Mapping[str, int],
                 hp_index: Mapping[str, int], log_index: Mapping[str, int]) -> str:
    kind, name = arg["kind"], arg["name"]
    if kind == "state":
        return f"ctx->state + {offsets[name]}"
    if kind == "input" and name == "x":
        return "(void *)x"
    if kind == "input" and name == STATE_ROWS:
        return "(void *)STATE_ROW_INDICES"
    if program == "predict" and kind == "output":
        return "y"
    if kind == "input" and name == "y":
        return "(void *)y"
    if kind == "input" and name in hp_index:
        return f"(void *)&ctx->hp[{hp_index[name]}]"
    if kind == "output" and name in log_index and arg["shape"] == []:
        return f"&logs[{log_index[name]}]"
    raise ValueError(f"AOT build: program {program!r} has an argument it cannot bind: {kind} {name!r} "
                     f"{arg['shape']}")
