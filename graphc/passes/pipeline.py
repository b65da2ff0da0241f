"""Optimization levels O0..O3 and `run_pipeline`, the entry point the frontend and tools use.

O0  what correctness needs: dead-code elimination (autodiff leaves unused gradients).
O1  the clean-up passes: DCE, shape check, constant folding, algebra, CSE.
O2  (the default for models) O1 plus matmul epilogues and fusion into loops.
O3  O2 with aggressive fusion that recomputes small broadcast values inside loops.
"""

from __future__ import annotations

from collections.abc import Iterable

from graphc.ir.graph import Graph
from graphc.passes.cse import eliminate_common_subexpressions
from graphc.passes.dce import dce
from graphc.passes.fold import fold_constants
from graphc.passes.fusion import fuse, fuse_aggressive, mark_epilogues
from graphc.passes.infer_shapes import infer_shapes
from graphc.passes.instruments import VerifyEach
from graphc.passes.manager import Instrument, Pass, PipelineResult, run_passes
from graphc.passes.simplify import simplify

DEFAULT_LEVEL = 2
# dce first: the recorded graphs hold autodiff's unused gradients, and the later passes each
# prune only what they themselves make dead
_CLEANUP = (dce, infer_shapes, fold_constants, simplify, eliminate_common_subexpressions)
PIPELINES: dict[int, tuple[Pass, ...]] = {
    0: (dce,),
    1: _CLEANUP,
    2: (*_CLEANUP, mark_epilogues, fuse),
    3: (*_CLEANUP, mark_epilogues, fuse_aggressive),
}


def parse_level(level: int | str) -> int:
    """0..3, or the strings "0".."3" / "O0".."O3" (case-insensitive)."""
    text = str(level).strip().upper().removeprefix("O") if isinstance(level, (int, str)) else None
    if isinstance(level, bool) or text not in {"0", "1", "2", "3"}:
        raise ValueError(f"optimization level must be one of 0, 1, 2, 3 or 'O0'..'O3', got {level!r}")
    return int(text)


def passes_for(level: int | str) -> tuple[Pass, ...]:
    return PIPELINES[parse_level(level)]


def run_pipeline(
    graph: Graph, level: int | str = DEFAULT_LEVEL, *, instruments: Iterable[Instrument] = (VerifyEach(),)
) -> PipelineResult:
    """Run the passes of optimization `level` on `graph`; the input graph is left untouched."""
    number = parse_level(level)
    result = run_passes(graph, PIPELINES[number], instruments)
    result.level = number
    return result
