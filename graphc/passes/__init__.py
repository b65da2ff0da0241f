"""Graph transformations: autodiff, the optimization passes and the pass manager."""

from graphc.passes.instruments import DumpEach, TimeEach, VerifyEach, text_dump
from graphc.passes.manager import Instrument, Pass, PassStats, PipelineResult, graph_pass, run_passes
from graphc.passes.pipeline import DEFAULT_LEVEL, PIPELINES, parse_level, passes_for, run_pipeline

__all__ = [
    "DEFAULT_LEVEL", "PIPELINES", "DumpEach", "Instrument", "Pass", "PassStats", "PipelineResult", "TimeEach",
    "VerifyEach", "graph_pass", "parse_level", "passes_for", "run_passes", "run_pipeline", "text_dump",
]
