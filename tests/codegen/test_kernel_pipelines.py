"""Which LLVM pipeline each kernel of a FULL program gets: short kernels of inference programs LIGHT,
kernels written with vectors BY_VECTOR, the rest FULL."""

from __future__ import annotations

from graphc.codegen import compile_programs, kernel_pipeline, pipeline_for
from graphc.codegen.target import BY_VECTOR, FULL, LIGHT
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from graphc.ops.convolution import CONV2D
from graphc.passes.kernels import partition


def _classifier(train: bool) -> Graph:
    """2,000 features -> 10 classes: a wide tanh (FULL), a 10-wide GEMM epilogue and softmax (short)."""
    g = Graph("classifier")
    x = g.input("x", TensorType((None, 2000)))
    w = g.state("w", TensorType((2000, 10)))
    logits = b.matmul(b.tanh(x), w) + g.state("bias", TensorType((10,)))
    e = b.exp(logits - b.reduce_max(logits, [1], keepdims=True))
    g.outputs["probabilities"] = e / b.reduce_sum(e, [1], keepdims=True)
    if train:
        g.updates["bias"] = g.states["bias"] - 0.1 * b.reduce_sum(e, [0])
    return g


def _pipelines(graph: Graph) -> dict[str, str]:
    return {kernel.name: kernel_pipeline(graph, kernel).key for kernel in partition(graph)}


def test_short_kernels_of_an_inference_program_are_light() -> None:
    graph = _classifier(train=False)
    assert pipeline_for(graph) is FULL
    pipelines = _pipelines(graph)
    assert pipelines.pop("tanh") == FULL.key  # 2,000 per sample
    assert "matmul" in pipelines  # its 2,000-wide operand is the GEMM's, not its own loops'
    assert set(pipelines.values()) == {LIGHT.key}


def test_a_training_step_keeps_its_short_kernels_full() -> None:
    assert set(_pipelines(_classifier(train=True)).values()) == {FULL.key}


def test_kernels_written_with_vectors_compile_by_vector() -> None:
    g = Graph("conv")
    x = g.input("x", TensorType((None, 28, 28, 1)))
    kernel = g.state("k", TensorType((5, 5, 1, 32)))
    g.outputs["y"] = b.tanh(CONV2D(x, kernel, strides=(1, 1), dilation=(1, 1), padding=((0, 0), (0, 0))))
    compiled = compile_programs({"p": g})
    by_vector = [unit for unit in compiled.units.values() if unit.pipeline is BY_VECTOR]
    assert len(by_vector) == 1 and any("conv2d" in name for name in by_vector[0].keep)
