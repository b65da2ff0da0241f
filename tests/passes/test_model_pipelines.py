"""A Keras model's training step through build_programs at O0 and O3, compiled and interpreted."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.codegen import build_library
from graphc.frontend.programs import LABELS, build_programs
from graphc.interpreter import evaluate
from graphc.keras import backend, layers
from graphc.keras.models import Sequential
from tests.codegen.compiled import run_compiled


@pytest.fixture(scope="module")
def model():
    backend.clear_session()
    m = Sequential([layers.Input((12,)), layers.Dense(16, activation="relu"), layers.Dropout(0.2),
                    layers.Dense(16, activation="relu"), layers.Dropout(0.2),
                    layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    m.train_on_batch(rng.normal(size=(8, 12)), rng.integers(0, 3, 8).astype(np.float32))
    return m


def test_levels_reach_the_compiled_programs_and_keep_their_reports(model) -> None:
    o0 = build_programs(model, model._spec, model.optimizer, level=0)
    o2 = build_programs(model, model._spec, model.optimizer)
    names = {"predict", "eval_step", "train_step"}
    assert o0.recorded.keys() == o0.graphs.keys() == o0.pipelines.keys() == names
    train = o2.pipelines["train_step"]
    assert train.level == 2 and train.graph is o2.graphs["train_step"]
    assert len(o2.graphs["train_step"]) < len(o0.graphs["train_step"]) < len(o0.recorded["train_step"])
    assert train.counter("update_groups") >= 6  # each kernel and bias, with both Adam slots


def test_o0_and_o3_compiled_agree_with_the_recorded_step(model, tmp_path) -> None:
    programs = {f"o{level}": build_programs(model, model._spec, model.optimizer, level=level)
                for level in (0, 3)}
    recorded = programs["o0"].recorded["train_step"]
    library = build_library({name: p.graphs["train_step"] for name, p in programs.items()}, tmp_path)
    from graphc_runtime import Library

    lib = Library.load(library)
    rng = np.random.default_rng(1)
    state = {name: model._engine.store[name].copy() for name in model._engine.store.names()}
    assert state.keys() == recorded.states.keys()
    feeds = {"x": rng.normal(size=(7, 12)), LABELS: rng.integers(0, 3, 7).astype(np.float32),
             **model.optimizer.feeds()}
    want_out, want_state = evaluate(recorded, feeds, state)
    for level in programs:
        outputs, after = run_compiled(lib, level, feeds, state)
        for name, value in want_out.items():
            np.testing.assert_allclose(outputs[name], value, rtol=1e-5, atol=1e-6, err_msg=f"{level} {name}")
        for name, value in want_state.items():
            np.testing.assert_allclose(after[name], value, rtol=1e-4, atol=1e-6, err_msg=f"{level} {name}")
