"""The driver: file -> model, model -> programs -> library, AOT builds, inspection.

Above the frontend and codegen, below the commands: every `graphc` command and
`compile_model` go through `load_model`/`resolve_model` (file -> model) and
`model_programs` (model -> programs).
"""

from graphc.build.aot import WEIGHTS_MODES, WEIGHTS_THRESHOLD, compile_model
from graphc.build.inspect import InspectReport, inspect_model
from graphc.build.loader import load_model, resolve_model, split_target
from graphc.build.programs import model_programs
from graphc.build.stages import STAGES, stage_graph

__all__ = [
    "STAGES", "WEIGHTS_MODES", "WEIGHTS_THRESHOLD", "InspectReport", "compile_model", "inspect_model",
    "load_model", "model_programs", "resolve_model", "split_target", "stage_graph",
]
