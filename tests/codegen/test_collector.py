"""The collector around builds: automatic collection held off while any build runs, a build's garbage
collected once (while waiting for a child, or at its end), a program's own gc.disable() respected."""

from __future__ import annotations

import gc
import threading

import pytest

from graphc.codegen import collector


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def collector_on() -> None:
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def test_a_build_holds_automatic_collection_and_collects_its_garbage_at_its_end() -> None:
    gc.collect()
    with collector.held():
        assert not gc.isenabled()
        garbage = [_Cycle() for _ in range(5 * gc.get_threshold()[0])]
        del garbage
        assert gc.get_count()[0] > gc.get_threshold()[0]  # nothing collected them
    assert gc.isenabled()
    assert gc.get_count()[0] < gc.get_threshold()[0]  # the end collected them


def test_collect_while_waiting_frees_the_garbage_once() -> None:
    gc.collect()
    calls = []
    callback = lambda phase, info: calls.append((phase, info["collected"]))  # noqa: E731
    gc.callbacks.append(callback)
    try:
        with collector.held():
            garbage = [_Cycle() for _ in range(5 * gc.get_threshold()[0])]
            del garbage
            collector.collect()
            collector.collect()  # nothing due any more
    finally:
        gc.callbacks.remove(callback)
    stops = [collected for phase, collected in calls if phase == "stop"]
    assert len(stops) == 1 and stops[0] >= 5 * gc.get_threshold()[0]


def test_nested_and_concurrent_builds_enable_the_collector_after_the_last() -> None:
    inner_done, outer_may_end = threading.Event(), threading.Event()

    def other_build() -> None:
        with collector.held():
            inner_done.set()
            outer_may_end.wait(10)

    with collector.held():
        thread = threading.Thread(target=other_build)
        thread.start()
        inner_done.wait(10)
    assert not gc.isenabled()  # the other thread's build still runs
    outer_may_end.set()
    thread.join()
    assert gc.isenabled()


def test_a_program_that_switched_the_collector_off_keeps_it_off() -> None:
    gc.disable()
    with collector.held():
        garbage = [_Cycle() for _ in range(5 * gc.get_threshold()[0])]
        del garbage
        collector.collect()
        assert gc.get_count()[0] > gc.get_threshold()[0]  # not collected behind the program's back
    assert not gc.isenabled()
