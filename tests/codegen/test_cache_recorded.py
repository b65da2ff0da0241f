"""The recorded-programs cache: a warm compile runs neither the pipeline nor LLVM; changes miss it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc.codegen as codegen
import graphc.frontend.programs as programs_mod
from graphc.codegen import cache
from graphc.codegen.recorded import LIBRARY, recorded_key
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b

MODEL = """
import numpy as np
from graphc import keras

def make(hidden=6):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hidden, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model

def run(model):
    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(8, 4)
    y = (x.sum(axis=1, keepdims=True) > 0).astype(np.float32)
    model.train_on_batch(x, y)
    predictions = model.predict(x, verbose=0)
    model._engine.finish_builds()  # tiered builds enter the cache when their final library is linked
    return predictions
"""

SECOND_PROCESS = MODEL + """
import sys
import graphc.codegen as codegen
import graphc.frontend.programs as programs_mod

def refuse(*args, **kwargs):
    raise SystemExit("pipeline or LLVM ran on a warm compile")

programs_mod.run_pipeline = refuse
codegen.compile_ir = refuse
codegen.emit_program = refuse
np.save(sys.argv[1], run(make()))
"""


def _namespace() -> dict:
    namespace: dict = {}
    exec(MODEL, namespace)  # noqa: S102 - the same model text the second process runs
    return namespace


class _Counter:
    def __init__(self, wrapped):
        self.wrapped, self.calls = wrapped, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.wrapped(*args, **kwargs)


@pytest.fixture
def counted(tmp_path, monkeypatch) -> tuple[_Counter, _Counter]:
    monkeypatch.setenv(cache.ENV, str(tmp_path / "cache"))
    pipeline = _Counter(programs_mod.run_pipeline)
    emit = _Counter(codegen.emit_program)
    monkeypatch.setattr(programs_mod, "run_pipeline", pipeline)
    monkeypatch.setattr(codegen, "emit_program", emit)
    return pipeline, emit


def test_warm_compile_skips_pipeline_and_llvm_in_a_fresh_process(counted, tmp_path: Path) -> None:
    pipeline, emit = counted
    ns = _namespace()
    first = ns["run"](ns["make"]())
    assert pipeline.calls == 2 and emit.calls == 2  # train_step and predict; eval_step never ran
    assert len(list((tmp_path / "cache").glob(f"*{LIBRARY}"))) == 2
    out = tmp_path / "second.npy"
    done = subprocess.run([sys.executable, "-c", SECOND_PROCESS, str(out)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(out), first)


def test_in_process_hit_gives_identical_results(counted) -> None:
    pipeline, emit = counted
    ns = _namespace()
    first = ns["run"](ns["make"]())
    calls = (pipeline.calls, emit.calls)
    second = ns["run"](ns["make"]())
    assert (pipeline.calls, emit.calls) == calls
    np.testing.assert_array_equal(first, second)


def test_changed_layer_size_misses(counted) -> None:
    pipeline, _ = counted
    ns = _namespace()
    ns["run"](ns["make"](6))
    before = pipeline.calls
    ns["run"](ns["make"](7))
    assert pipeline.calls == before + 2


def _graph(constant: float) -> Graph:
    g = Graph("g")
    g.outputs["y"] = b.tanh(g.input("x", TensorType((None, 3))) * np.full((3,), constant, np.float32))
    return g


def test_key_covers_constant_bytes_level_and_target() -> None:
    base = recorded_key({"g": _graph(0.5)}, 2)
    assert base == recorded_key({"g": _graph(0.5)}, "O2")
    assert base != recorded_key({"g": _graph(np.nextafter(np.float32(0.5), np.float32(1)))}, 2)
    assert base != recorded_key({"g": _graph(0.5)}, 1)
    assert base != recorded_key({"h": _graph(0.5)}, 2)
    assert base != recorded_key({"g": _graph(0.5)}, 2, cpu="x86-64")


def test_cache_off_still_compiles(monkeypatch) -> None:
    monkeypatch.setenv(cache.ENV, "off")
    ns = _namespace()
    prediction = ns["run"](ns["make"]())
    assert prediction.shape == (8, 1) and np.all((prediction > 0) & (prediction < 1))


def test_key_reads_the_compiler_sources_and_those_hold_everything_the_compiler_imports() -> None:
    from graphc.codegen import recorded

    calls = []
    original = cache.source_digest
    try:
        cache.source_digest = lambda *args: calls.append(args) or original(*args)  # type: ignore[assignment]
        recorded_key({"g": _graph(0.5)}, 2)
    finally:
        cache.source_digest = original
    assert calls == [(recorded._PACKAGE, recorded.COMPILER_PACKAGES)]
    for package in recorded.COMPILER_PACKAGES:  # nothing outside them decides the code (test_layers.py too)
        for path in (recorded._PACKAGE / package).rglob("*.py"):
            for module in _graphc_imports(path):
                assert module.split(".")[1] in recorded.COMPILER_PACKAGES, f"{path} imports {module}"


def _graphc_imports(path: Path) -> list[str]:
    """The graphc.<package>... modules a file imports (absolute imports; graphc itself left out)."""
    import ast

    modules = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
    return [module for module in modules if module.startswith("graphc.")]
