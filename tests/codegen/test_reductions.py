"""How reductions walk their input: a reduction finished in one register loop per output element
(only the innermost run reduced) writes each output once; any other reads and updates its output,
which a first pass fills with the identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphc.codegen import compile_programs
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from tests.codegen.compiled import assert_matches, load


def _graph(reduce: str, axes: list[int]) -> Graph:
    g = Graph(f"{reduce}_{'_'.join(map(str, axes))}")
    x = g.input("x", TensorType((None, 6, 10)))
    g.outputs["y"] = getattr(b, reduce)(b.exp(x) * 0.5, axes)
    return g


@pytest.mark.parametrize("reduce", ["reduce_sum", "reduce_max"])
@pytest.mark.parametrize(("axes", "fills_first"), [([2], False), ([1, 2], False), ([0], True), ([1], True)])
def test_only_reductions_revisiting_an_output_fill_it_first(reduce: str, axes: list[int], fills_first: bool,
                                                            tmp_path: Path) -> None:
    graph = _graph(reduce, axes)
    text = compile_programs({graph.name: graph}).llvm_ir[graph.name]
    assert ('"init.header"' in text) is fills_first
    x = np.random.default_rng(3).standard_normal((37, 6, 10)).astype(np.float32)
    assert_matches(graph, load({graph.name: graph}, tmp_path), graph.name, {"x": x}, rtol=1e-5)
