"""Background jobs: results and errors reach the Future, arguments are let go before it is done, and
drain waits for every job, those submitted by jobs too."""

from __future__ import annotations

import threading
import weakref

import pytest

from graphc.codegen import background


class _Held:
    pass


def test_a_job_lets_go_of_its_arguments_before_its_future_is_done() -> None:
    held = _Held()
    alive = weakref.ref(held)
    future = background.submit(lambda thing: type(thing).__name__, held)
    del held
    assert future.result(timeout=10) == "_Held"
    assert alive() is None


def test_errors_reach_the_future() -> None:
    def fail() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        background.submit(fail).result(timeout=10)


def test_drain_waits_for_jobs_and_the_jobs_they_submit() -> None:
    release, finished = threading.Event(), []

    def second() -> None:
        release.wait(10)
        finished.append("second")

    def first() -> None:
        background.submit(second)
        finished.append("first")

    background.submit(first)
    threading.Timer(0.2, release.set).start()
    background.drain()
    assert finished == ["first", "second"]
