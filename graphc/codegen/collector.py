"""The cyclic garbage collector around a build.

A build allocates some 10^5 container objects (graphs, and llvmlite's IR, whose modules, functions,
blocks and instructions refer to one another, so that only the collector frees them) that stay alive
until their modules are printed. The collections their allocation triggers traverse them in vain,
and the full collection that finally freed a training step's IR fell into the next build, inside its
emission (~19 ms of the tutorial CNN's first predict). So a build holds automatic collection off and
collects what it allocated once, where its thread would otherwise wait for an LLVM child, or at its
end. A program that switched the collector off keeps it off.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_builds = 0  # builds under way (in any thread)
_resume = False  # whether the collector was on when the first of them started


@contextmanager
def held() -> Iterator[None]:
    """Automatic collection off for the block (if on), and what the block allocated collected at its
    end unless `collect` did it already."""
    global _builds, _resume
    with _lock:
        if _builds == 0:
            _resume = gc.isenabled()
            gc.disable()
        _builds += 1
    try:
        yield
    finally:
        collect()
        with _lock:
            _builds -= 1
            if _builds == 0 and _resume:
                gc.enable()


def collect() -> None:
    """If the collector is held by builds (not off by the program's choice) and an automatic collection
    is due, collect the generation automatic collection would have reached by now: the youngest (what
    was allocated since the last collection, with collection held the builds' objects), and the older
    ones at the rhythm of their thresholds, so that garbage promoted to them (a dropped model's
    cycles) waits no longer than it would have."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    if not (_resume and _builds and counts[0] > thresholds[0]):
        return
    young = counts[1] + counts[0] // thresholds[0]  # the youngest generation's collections by now
    middle = counts[2] + young // (thresholds[1] + 1)
    gc.collect(2 if middle > thresholds[2] else 1 if young > thresholds[1] else 0)
