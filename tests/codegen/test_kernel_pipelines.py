"""How a FULL program's kernels compile: short kernels of inference programs tiered (QUICK first, no
fast-math flag), the rest FULL."""

from __future__ import annotations

from graphc.codegen import cache as disk_cache
from graphc.codegen import compile_programs, pipeline_for, tiered_kernel
from graphc.codegen.target import FULL, QUICK
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from graphc.passes.kernels import partition


def _classifier(train: bool) -> Graph:
    """2,000 features -> 10 classes: a wide tanh, a 10-wide GEMM epilogue and a softmax (short)."""
    g = Graph("classifier")
    x = g.input("x", TensorType((None, 2000)))
    w = g.state("w", TensorType((2000, 10)))
    logits = b.matmul(b.tanh(x), w) + g.state("bias", TensorType((10,)))
    e = b.exp(logits - b.reduce_max(logits, [1], keepdims=True))
    g.outputs["probabilities"] = e / b.reduce_sum(e, [1], keepdims=True)
    if train:
        g.updates["bias"] = g.states["bias"] - 0.1 * b.reduce_sum(e, [0])
    return g


def _tiered(graph: Graph) -> dict[str, bool]:
    return {kernel.name: tiered_kernel(graph, kernel) for kernel in partition(graph)}


def test_short_kernels_of_an_inference_program_are_tiered() -> None:
    graph = _classifier(train=False)
    assert pipeline_for(graph) is FULL
    tiered = _tiered(graph)
    assert tiered.pop("tanh") is False  # 2,000 per sample
    assert "matmul" in tiered  # its 2,000-wide operand is the GEMM's, not its own loops'
    assert set(tiered.values()) == {True}


def test_a_training_step_tiers_no_kernel() -> None:
    assert set(_tiered(_classifier(train=True)).values()) == {False}


def test_the_tiered_unit_compiles_full_without_fast_math_and_quick_first(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(disk_cache.ENV, str(tmp_path))  # a cached object is not compiled at all
    graph = _classifier(train=False)
    quick = compile_programs({"p": graph}, quick=True)
    units = compile_programs({"p": graph}).units
    tiered = [unit for unit in units.values() if unit.tiered]
    assert len(tiered) == 1 and tiered[0].pipeline is FULL
    assert not any("reassoc" in text for text in tiered[0].texts)
    assert list(quick.quick.values()) == tiered
    assert {unit.pipeline for name, unit in quick.units.items() if name in quick.quick} == {QUICK}

