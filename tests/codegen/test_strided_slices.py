"""Strided and reversed slices (`x[:, ::2]`, `x[:, ::-1]`): numpy's values, one loop with their
consumers, and no read outside the operand (checked in a child process, so a stray read fails this
test, not the run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from graphc.passes.kernels import partition
from graphc.passes.pipeline import run_pipeline
from tests.codegen.compiled import load, run_compiled

KEYS = {
    "every_second": (slice(None), slice(None, None, 2), slice(None)),
    "reversed": (slice(None), slice(None), slice(None, None, -1)),
    "down_by_three": (slice(None), slice(6, 0, -3), slice(1, None, 2)),
    "single_reversed": (slice(None), slice(4, 5), slice(3, None, -1)),
}
SHAPE = (7, 5)


def _graph(name: str) -> Graph:
    g = Graph(name)
    x = g.input("x", TensorType((None, *SHAPE)))
    g.outputs["y"] = b.exp(x[KEYS[name]]) * 2.0 + 1.0
    return g


@pytest.mark.parametrize("name", sorted(KEYS))
def test_values_are_numpys_and_the_slice_joins_its_consumers_loop(tmp_path, name) -> None:
    graph = run_pipeline(_graph(name), 2).graph
    kernels = partition(graph)
    assert len(kernels) == 1 and {"slice", "exp"} <= {n.op for n in kernels[0].nodes}
    library = load({name: graph}, tmp_path)
    x = np.random.default_rng(3).normal(size=(6, *SHAPE)).astype(np.float32)
    y = run_compiled(library, name, {"x": x}, {})[0]["y"]
    np.testing.assert_allclose(y, np.exp(x[KEYS[name]]) * 2.0 + 1.0, rtol=1e-6)


def test_a_reversed_read_stays_inside_its_operand(tmp_path) -> None:
    """The operand ends on (then starts at) an inaccessible page: reading x[:, ::-1] from the last
    element backwards must touch neither neighbour."""
    script = textwrap.dedent(f"""
        import numpy as np
        from graphc.ir import Graph, TensorType
        from graphc.ops import builders as b
        from tests.codegen.compiled import load, run_compiled
        from tests.codegen.guard_pages import guarded
        g = Graph("rev")
        x = g.input("x", TensorType((None, 33)))
        g.outputs["y"] = x[:, ::-1] * 3.0
        library = load({{"rev": g}}, __import__("pathlib").Path({str(tmp_path)!r}))
        data = np.arange(5 * 33, dtype=np.float32).reshape(5, 33)
        for at_end in (True, False):
            y = run_compiled(library, "rev", {{"x": guarded(data, at_end)}}, {{}})[0]["y"]
            assert np.array_equal(y, data[:, ::-1] * 3.0)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_keras_style_indexing_records_one_slice_with_steps() -> None:
    g = Graph("index")
    x = g.input("x", TensorType((None, 8, 3)))
    y = x[:, 7:0:-2, ::2]
    assert y.op == "slice" and y.attrs == {"begin": (0, 7, 0), "size": (None, 4, 2), "strides": (1, -2, 2)}
    assert x[:, 2:5].attrs == {"begin": (0, 2, 0), "size": (None, 3, 3)}  # unit steps: no strides attribute
    assert x[:, 5:2].shape == (None, 0, 3)
