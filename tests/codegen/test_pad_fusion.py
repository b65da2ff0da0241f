"""Pads and slices fuse into their consumers' loops; a pad's reads around its operand stay inside
the operand's buffer (checked in a child process, so a stray read would fail this test, not the run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from graphc.interpreter import evaluate
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from graphc.passes.kernels import partition
from graphc.passes.pipeline import run_pipeline
from tests.codegen.compiled import load, run_compiled


def _graph() -> Graph:
    g = Graph("windows")
    x = g.input("x", TensorType((None, 4, 3)))
    padded = b.pad(b.tanh(x), ((0, 0), (2, 1), (1, 3)), value=0.25)
    window = b.slice_(padded, (0, 1, 2), (None, 5, 4))
    shifted = b.pad(b.slice_(x, (0, 1, 0), (None, 2, 3)), ((0, 0), (3, 0), (0, 1)))
    g.outputs["y"] = b.exp(window) * 2.0 + shifted
    return g


def test_pads_and_slices_join_their_consumers_loop() -> None:
    optimized = run_pipeline(_graph(), 2).graph
    ops = [[n.op for n in kernel.nodes] for kernel in partition(optimized)]
    fused = [k for k in ops if "pad" in k and "exp" in k]
    assert fused and all("slice" in k for k in fused), ops


def test_composed_windows_match_the_reference(tmp_path) -> None:
    graph = _graph()
    library = load({"windows": graph}, tmp_path)
    for batch in (1, 7):
        x = np.random.default_rng(batch).normal(size=(batch, 4, 3)).astype(np.float32)
        expected = evaluate(graph, {"x": x})[0]["y"]
        outputs, _ = run_compiled(library, "windows", {"x": x}, {})
        np.testing.assert_allclose(outputs["y"], expected, rtol=1e-5, atol=1e-6)


def test_wide_pads_never_read_outside_the_operand(tmp_path) -> None:
    script = textwrap.dedent(f"""
        import numpy as np
        from graphc.interpreter import evaluate
        from graphc.ir import Graph, TensorType
        from graphc.ops import builders as b
        from tests.codegen.compiled import load, run_compiled
        g = Graph("wide")
        x = g.input("x", TensorType((None, 3)))
        g.outputs["y"] = b.exp(b.pad(x, ((0, 0), (100000, 100000)), value=-1.0)) + 1.0
        library = load({{"wide": g}}, __import__("pathlib").Path({str(tmp_path)!r}))
        x = np.ones((2, 3), np.float32)
        out = run_compiled(library, "wide", {{"x": x}}, {{}})[0]["y"]
        np.testing.assert_allclose(out, evaluate(g, {{"x": x}})[0]["y"], rtol=1e-6)
        print("ok", out.shape)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ok (2, 200003)" in done.stdout


def test_a_sum_of_pads_is_partitioned_at_their_window_edges(tmp_path) -> None:
    """The gradient of an LSTM step's gate slices: pads of four windows of the last axis, summed (two of
    them overlapping, one leaving a gap). The loop is cut at every window edge; each piece computes what
    the interpreter does."""
    g = Graph("gates")
    x = g.input("x", TensorType((None, 5)))
    pieces = [b.pad(b.tanh(x), ((0, 0), (0, 15))), b.pad(x * 2.0, ((0, 0), (5, 10))),
              b.pad(b.exp(x), ((0, 0), (7, 8))), b.pad(-x, ((0, 0), (15, 0)), value=0.5)]
    g.outputs["y"] = pieces[0] + pieces[1] + pieces[2] + pieces[3]
    library = load({"gates": g}, tmp_path)
    for batch in (1, 5):
        data = np.random.default_rng(batch).normal(size=(batch, 5)).astype(np.float32)
        outputs, _ = run_compiled(library, "gates", {"x": data}, {})
        np.testing.assert_allclose(outputs["y"], evaluate(g, {"x": data})[0]["y"], rtol=1e-6, atol=1e-6)
