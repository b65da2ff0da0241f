"""Recurrences started from an initial state (Keras's initial_state=[h0, c0]), compiled: the forward
output and the gradients of every operand, h0 and c0 included, against the interpreter at a batch
that leaves a partial group of samples, and the same bits for every thread count and batch size."""

from __future__ import annotations

import numpy as np
import pytest

from tests.codegen.compiled import assert_matches, load
from tests.codegen.recurrence_cases import (
    assert_same_bits_for_every_thread_count_and_batch,
    recurrence_feeds,
    recurrence_graph,
)

CELLS = [  # (cell, reverse, masked)
    ("simple", True, False),
    ("lstm", False, True),
    ("lstm", True, False),
    ("gru", True, True),
    ("gru_v1", False, True),
]


def _name(cell: str, reverse: bool, masked: bool) -> str:
    return f"{cell}{'_reverse' if reverse else ''}{'_masked' if masked else ''}"


GRAPHS = {_name(*case): recurrence_graph(_name(*case), *case, initial=True, dropout=False) for case in CELLS}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory):
    return load(GRAPHS, tmp_path_factory.mktemp("recurrence_state"))


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("name", GRAPHS)
def test_initial_state_compiled_matches_the_interpreter(library, name: str, batch: int) -> None:
    graph = GRAPHS[name]
    feeds = recurrence_feeds(graph, batch, np.random.default_rng(batch))
    assert_matches(graph, library, name, feeds, batch=batch, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", GRAPHS)
def test_initial_state_same_bits_for_every_thread_count_and_batch(library, restore_threads,
                                                                   name: str) -> None:
    assert_same_bits_for_every_thread_count_and_batch(library, name, GRAPHS[name])
