"""StateStore: persistent, aligned, shape-checked buffers."""

from __future__ import annotations

import numpy as np
import pytest
from graphc_runtime import ArgSpec, StateStore


def _store() -> StateStore:
    specs = [ArgSpec("state", "w", (3, 2)), ArgSpec("state", "step", ()), ArgSpec("state", "w", (3, 2))]
    return StateStore(specs)


def test_buffers_are_zeroed_aligned_float32_and_persistent() -> None:
    store = _store()
    assert store.names() == ["w", "step"]
    live = store["w"]
    assert live.dtype == np.float32 and live.flags.c_contiguous and live.ctypes.data % 64 == 0
    assert (live == 0).all() and store["step"].shape == ()
    store.assign("w", np.arange(6).reshape(3, 2))
    assert store["w"] is live
    np.testing.assert_array_equal(live, np.arange(6, dtype=np.float32).reshape(3, 2))


def test_assign_checks_the_exact_shape() -> None:
    store = _store()
    with pytest.raises(ValueError, match=r"'w'.*\(3, 2\).*\(6,\)"):
        store.assign("w", np.zeros(6))
    with pytest.raises(ValueError, match=r"'w'.*\(3, 2\).*\(1, 3, 2\)"):
        store.assign("w", np.zeros((1, 3, 2)))


def test_unknown_names_and_conflicting_or_batched_specs_are_rejected() -> None:
    store = _store()
    with pytest.raises(KeyError, match="'v'"):
        store["v"]
    with pytest.raises(KeyError, match="'v'"):
        store.assign("v", np.zeros(1))
    with pytest.raises(ValueError, match=r"'w'.*\(3, 2\).*\(2, 3\)"):
        StateStore([ArgSpec("state", "w", (3, 2)), ArgSpec("state", "w", (2, 3))])
    with pytest.raises(ValueError, match="batch"):
        StateStore([ArgSpec("state", "w", (None, 2))])
