"""Recurrences with recurrent dropout, compiled: the forward output and the gradients of every
operand against the interpreter at batches 1 and 7 (a partial group of samples), with and without
a time mask and an initial state, and the same bits for every thread count and batch size."""

from __future__ import annotations

import numpy as np
import pytest

from tests.codegen.compiled import assert_matches, load
from tests.codegen.recurrence_cases import (
    RATE,
    assert_same_bits_for_every_thread_count_and_batch,
    recurrence_feeds,
    recurrence_graph,
)

CELLS = [  # (cell, reverse, masked, initial)
    ("simple", True, False, True),
    ("simple", False, True, False),
    ("lstm", False, True, True),
    ("lstm", True, False, False),
    ("gru", True, True, True),
    ("gru", False, False, False),
    ("gru_v1", False, True, True),
    ("gru_v1", True, False, False),
]


def _name(cell: str, reverse: bool, masked: bool, initial: bool) -> str:
    return f"{cell}{'_reverse' * reverse}{'_masked' * masked}{'_initial' * initial}"


GRAPHS = {_name(*case): recurrence_graph(_name(*case), *case, dropout=True) for case in CELLS}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory):
    return load(GRAPHS, tmp_path_factory.mktemp("recurrence_dropout"))


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("name", GRAPHS)
def test_recurrent_dropout_compiled_matches_the_interpreter(library, name: str, batch: int) -> None:
    graph = GRAPHS[name]
    feeds = recurrence_feeds(graph, batch, np.random.default_rng(batch))
    assert {0.0, np.float32(1.0 / (1.0 - RATE))} >= set(feeds["rmask"].ravel().tolist())
    assert_matches(graph, library, name, feeds, batch=batch, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", GRAPHS)
def test_recurrent_dropout_same_bits_for_every_thread_count_and_batch(library, restore_threads,
                                                                       name: str) -> None:
    assert_same_bits_for_every_thread_count_and_batch(library, name, GRAPHS[name])
