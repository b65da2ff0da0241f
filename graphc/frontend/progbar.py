"""The Keras 3 progress bar (``keras/src/utils/progbar.py``), reproduced character for character.

Users compare graphc's console output with what Keras prints in tutorials, so the frames, the ANSI
codes, the timing units and the value formats follow K3 exactly. Two deliberate differences: values are
shown as given (graphc's trainer already reports running epoch means, which is what K3 shows for its
stateful metrics), and the clock is injectable so the timing text can be tested.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

_BOLD = "\x1b[1m"
_GREEN = "\x1b[32m"
_WHITE = "\x1b[37m"
_RESET = "\x1b[0m"


def format_time_per_unit(seconds: float, unit_name: str = "step") -> str:
    """`` 12ms/step`` as K3 ``_format_time`` writes it (with its leading space)."""
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1000.0:.0f}ms/{unit_name}"
    return f" {seconds * 1000000.0:.0f}us/{unit_name}"


def format_eta(seconds: float) -> str:
    """Remaining time as ``%ds``, ``%d:%02d`` or ``%d:%02d:%02d``."""
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _dynamic_display() -> bool:
    """K3 rewrites the line in place on every POSIX system, even when stdout is a pipe."""
    stdout = sys.stdout
    return (hasattr(stdout, "isatty") and stdout.isatty()) or os.name == "posix" \
        or "ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ


def _write(message: str) -> None:
    stream = sys.stdout  # looked up per call so that redirected or captured stdout is honoured
    stream.write(message)
    stream.flush()


class Progbar:
    """Displays a progress bar; ``verbose`` 0 is silent, 1 redraws a bar, 2 prints one line at the end."""

    def __init__(self, target: int | None, width: int = 20, verbose: int = 1, interval: float = 0.05,
                 unit_name: str = "step", time_fn: Callable[[], float] = time.monotonic) -> None:
        if target is not None and (isinstance(target, bool) or int(target) != target or target < 0):
            raise ValueError(f"Progbar: `target` must be a non-negative integer or None, got {target!r}")
        if verbose not in (0, 1, 2):
            raise ValueError(f"Progbar: `verbose` must be 0, 1 or 2, got {verbose!r}")
        self.target = None if target is None else int(target)
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self._time_fn = time_fn
        self._dynamic_display = _dynamic_display()
        self._values: dict[str, float] = {}
        self._start = time_fn()
        self._last_update = -math.inf  # the first update is always drawn
        self._time_after_first_step: float | None = None
        self._prev_total_width = 0
        self._seen_so_far = 0

    def update(self, current: int, values: Sequence[tuple[str, float]] | None = None,
               finalize: bool | None = None) -> None:
        """Shows step ``current`` with the given ``(name, value)`` pairs; finalizes at the target."""
        if finalize is None:
            finalize = False if self.target is None else current >= self.target
        for name, value in values or []:
            self._values[name] = float(np.mean(value))
        self._seen_so_far = current

        now = self._time_fn()
        time_per_unit = self._estimate_step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._write_frame(current, now, time_per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target:
            self._write_line(current, now, time_per_unit)
        self._last_update = now

    def add(self, n: int, values: Sequence[tuple[str, float]] | None = None) -> None:
        self.update(self._seen_so_far + n, values)

    def _write_frame(self, current: int, now: float, time_per_unit: float, finalize: bool) -> None:
        message = "\b" * self._prev_total_width + "\r" if self._dynamic_display else "\n"
        special_char_len = 0
        if self.target:
            numdigits = int(math.log10(self.target)) + 1
            bar = f"{_BOLD}{int(current):{numdigits}d}/{self.target}{_RESET} "
            special_char_len += 8
            prog_width = int(self.width * float(current) / self.target)
            if prog_width > 0:
                bar += f"{_GREEN}{'━' * prog_width}{_RESET}"
                special_char_len += 9
            bar += f"{_WHITE}{'━' * (self.width - prog_width)}{_RESET}"
            special_char_len += 9
        else:
            bar = f"{int(current):7d}/Unknown"
        message += bar

        if self.target and not finalize:
            info = f" {_BOLD}{format_eta(time_per_unit * (self.target - current))}{_RESET}"
        else:
            info = f" {_BOLD}{now - self._start:.0f}s{_RESET}"
        special_char_len += 8
        info += format_time_per_unit(time_per_unit, self.unit_name)
        for name, value in self._values.items():
            info += f" - {name}: {value:.4f}" if abs(value) > 1e-3 else f" - {name}: {value:.4e}"
        message += info

        total_width = len(bar) + len(info) - special_char_len
        if self._prev_total_width > total_width:
            message += " " * (self._prev_total_width - total_width)
        if finalize:
            message += "\n"
        _write(message)
        self._prev_total_width = total_width

    def _write_line(self, current: int, now: float, time_per_unit: float) -> None:
        numdigits = int(math.log10(self.target)) + 1
        info = f"{int(current):{numdigits}d}/{self.target} - {now - self._start:.0f}s"
        info += f" -{format_time_per_unit(time_per_unit, self.unit_name)}"
        for name, value in self._values.items():
            # K3 tests `avg > 1e-3` here (not abs), so negative values print in %.4e; kept for fidelity.
            info += f" - {name}: {value:.4f}" if value > 1e-3 else f" - {name}: {value:.4e}"
        _write(info + "\n")

    def _estimate_step_duration(self, current: int, now: float) -> float:
        """Seconds per step, leaving out the first step (compilation, warm-up) once there are others."""
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit
