"""Helpers shared by the benchmark scripts: timing, machine description, markdown tables."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence

MLP_SIZES = (784, 512, 512, 10)
TINY_SIZES = (4, 16, 3)


def median_s(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall time of one call, in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    return (f"{datetime.date.today().isoformat()}, {cpu_name()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
