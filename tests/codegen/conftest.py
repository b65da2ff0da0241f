"""Fixtures of the code generation tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from graphc_runtime import get_num_threads, set_num_threads


@pytest.fixture
def restore_threads() -> Iterator[None]:
    """Tests that change the pool's thread count leave it as they found it."""
    before = get_num_threads()
    yield
    set_num_threads(before)
