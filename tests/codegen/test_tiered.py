"""Tiered builds: the QUICK library a first call runs computes the same bits as the final one."""

from __future__ import annotations

import numpy as np
import pytest
from graphc_runtime import Library, StateStore

from graphc.codegen import build_library, build_tiered, compile_programs, pipeline_for
from graphc.codegen import cache as disk_cache
from graphc.codegen.target import FULL, LIGHT, QUICK
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch) -> None:
    """A cache of its own: a tiered build only tiers what the cache cannot serve."""
    monkeypatch.setenv(disk_cache.ENV, str(tmp_path / "cache"))


def _reductions(width: int) -> Graph:
    """Sums and maxima over rows and over the batch, softmax, log, sqrt: every reassociable reduction."""
    g = Graph("reductions")
    x = g.input("x", TensorType((None, width)))
    w = g.input("w", TensorType((width, width)))
    h = b.tanh(b.matmul(x, w))
    shifted = h - b.reduce_max(h, [1], keepdims=True)
    e = b.exp(shifted)
    g.outputs["softmax"] = e / b.reduce_sum(e, [1], keepdims=True)
    g.outputs["logsum"] = b.log(b.reduce_sum(e * e, [1]))
    g.outputs["column"] = b.sqrt(b.reduce_sum(b.square(h), [0]))
    g.outputs["total"] = b.reduce_mean(h * x)
    classes = h[:, :10] * 3.0  # a softmax over 10 classes: short sums, added in a fixed order
    e10 = b.exp(classes - b.reduce_max(classes, [1], keepdims=True))
    g.outputs["classes"] = e10 / b.reduce_sum(e10, [1], keepdims=True)
    return g


def _training_step(width: int) -> Graph:
    """A dense layer's forward pass, gradient and SGD update as one program with states."""
    g = Graph("step")
    x = g.input("x", TensorType((None, 4)))
    kernel = g.state("kernel", TensorType((4, width)))
    y = b.sigmoid(b.matmul(x, kernel))
    loss = b.reduce_mean(b.square(y - 0.5))
    dy = (y - 0.5) * y * (1.0 - y)
    g.outputs["loss"] = loss
    g.updates["kernel"] = kernel - 0.1 * b.matmul(x, dy, transpose_a=True)
    return g


def _run(library: Library, name: str, feeds: dict[str, np.ndarray], states: dict[str, np.ndarray]
         ) -> dict[str, np.ndarray]:
    program = library.programs[name]
    store = StateStore(program.states)
    for key, value in states.items():
        store.assign(key, value)
    program.bind(store)
    results = {}
    for step in range(3):  # states carry over: three steps of the same program
        results |= {f"{key}@{step}": value.copy() for key, value in program(**feeds).items()}
    return results | {f"state {key}": store[key].copy() for key in store.names()}


@pytest.mark.parametrize("graph, feeds, states", [
    (_reductions(29), {"x": np.linspace(-2, 2, 29 * 23, dtype=np.float32).reshape(23, 29),
                       "w": np.cos(np.arange(29 * 29, dtype=np.float32)).reshape(29, 29)}, {}),
    (_training_step(29), {"x": np.sin(np.arange(19 * 4, dtype=np.float32)).reshape(19, 4)},
     {"kernel": np.cos(np.arange(4 * 29, dtype=np.float32)).reshape(4, 29)}),
], ids=["reductions", "training_step"])
def test_quick_and_final_libraries_compute_the_same_bits(tmp_path, graph, feeds, states) -> None:
    assert pipeline_for(graph) is LIGHT
    first, final = build_tiered({"p": graph}, tmp_path, name="m")
    assert final is not None, "a LIGHT program missing from the cache compiles at QUICK first"
    quick = Library.load(first)
    optimized = Library.load(final.result(timeout=120))
    assert first != optimized.path and first.read_bytes() != optimized.path.read_bytes()
    expected, got = _run(optimized, "p", feeds, states), _run(quick, "p", feeds, states)
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_the_final_library_is_the_one_build_library_makes(tmp_path, monkeypatch) -> None:
    graph = _reductions(21)
    _, final = build_tiered({"p": graph}, tmp_path / "tiered", name="m")
    final.result(timeout=120)
    monkeypatch.setenv(disk_cache.ENV, "off")  # compiled again, not read back
    direct = compile_programs({"p": graph})
    assert (tmp_path / "tiered" / "m_full_p.o").read_bytes() == direct.objects["p"]
    assert (tmp_path / "tiered" / "m_p.o").read_bytes() != direct.objects["p"]


def test_cached_programs_and_large_training_steps_are_not_tiered(tmp_path) -> None:
    small = _reductions(17)
    build_library({"p": small}, tmp_path / "warm")
    assert build_tiered({"p": small}, tmp_path / "again")[1] is None  # its LIGHT object is cached
    large = _training_step(1100)
    assert pipeline_for(large) is FULL
    assert build_tiered({"p": large}, tmp_path / "large")[1] is None


def test_a_large_inference_program_tiers_its_short_kernels_alone(tmp_path) -> None:
    """Its kernels of one vector per sample (codegen.tiered_kernel) compile QUICK first, FULL in the
    background; the rest compile FULL at once; both libraries compute the same bits."""
    large = _reductions(1100)
    assert pipeline_for(large) is FULL
    compiled = compile_programs({"p": large}, quick=True)
    assert compiled.quick and all(compiled.units[name].pipeline is QUICK for name in compiled.quick)
    assert {unit.pipeline for unit in compiled.quick.values()} == {FULL}
    assert {unit.pipeline for name, unit in compiled.units.items() if name not in compiled.quick} == {FULL}
    first, final = build_tiered({"p": large}, tmp_path, name="m")
    assert final is not None
    rng = np.random.default_rng(5)
    feeds = {"x": rng.normal(size=(9, 1100)).astype(np.float32),
             "w": (rng.normal(size=(1100, 1100)) / 40).astype(np.float32)}
    expected = _run(Library.load(final.result(timeout=120)), "p", feeds, {})
    got = _run(Library.load(first), "p", feeds, {})
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_light_modules_carry_no_fast_math_flags() -> None:
    """Without them every LLVM pass keeps IEEE semantics: what makes the two tiers agree bit for bit.
    FULL modules keep the reductions' reassociation, which their vectorized loops need."""
    light = compile_programs({"p": _reductions(19)}).llvm_ir["p"]
    full = compile_programs({"p": _reductions(1100)}).llvm_ir["p"]
    assert "fadd float" in light and "reassoc" not in light
    assert "fadd reassoc" in full
