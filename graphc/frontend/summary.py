"""``model.summary()`` text in the Keras 3 layout (``keras/src/utils/summary_utils.py``).

K3 draws the table with rich; graphc reproduces rich's plain-text output without depending on it: the
same column widths (positions .45/.80/1.0 of the line, then rich's shrinking of padded columns to the
table width), the same word wrapping and ellipsis for long cells, the same box-drawing characters.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from itertools import pairwise

_POSITIONS = (0.45, 0.80, 1.0)
_HEADER = ("Layer (type)", "Output Shape", "Param #")
_RIGHT_ALIGNED = (False, False, True)
# models that are not a chain of layers get K3's fourth column, on a wider line
_GRAPH_POSITIONS = (0.3, 0.56, 0.74, 1.0)
_GRAPH_HEADER = (*_HEADER, "Connected to")
_GRAPH_RIGHT_ALIGNED = (*_RIGHT_ALIGNED, False)
_FLOAT32_BYTES = 4
_WORD = re.compile(r"\s*\S+\s*")


@dataclass(frozen=True)
class SummaryRow:
    """One layer line; ``params=None`` marks an unbuilt layer (shown as ``0 (unbuilt)``);
    ``connected`` is the "Connected to" cell of a model that is not a chain."""

    name: str
    class_name: str
    output_shape: str
    params: int | None
    connected: str | None = None


def default_line_length(sequential_like: bool = True) -> int:
    """K3's width: 88 for sequential-like models, 108 for the others, or the terminal width minus 4
    if narrower."""
    return min(88 if sequential_like else 108, shutil.get_terminal_size().columns - 4)


def readable_memory_size(size_in_bytes: float) -> str:
    """``884.00 B``, ``2.26 MB``: 1024 steps, two decimals, as keras ``readable_memory_size``."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size_in_bytes / 1024 < 1:
            return f"{size_in_bytes:.2f} {unit}"
        size_in_bytes /= 1024
    return f"{size_in_bytes:.2f} PB"


def format_summary(model_name: str, rows: list[SummaryRow], trainable: int, non_trainable: int,
                   line_length: int = 88, optimizer_params: int | None = None) -> str:
    """The whole summary, without a trailing newline; optimizer variables count in the total, as in K3."""
    for label, count in (("trainable", trainable), ("non_trainable", non_trainable),
                         ("optimizer_params", optimizer_params)):
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise ValueError(f"format_summary: `{label}` must be a non-negative int, got {count!r}")
    graph = any(row.connected is not None for row in rows)
    positions, header, aligned = ((_GRAPH_POSITIONS, _GRAPH_HEADER, _GRAPH_RIGHT_ALIGNED) if graph
                                  else (_POSITIONS, _HEADER, _RIGHT_ALIGNED))
    widths = _cell_widths(line_length, positions)
    lines = [f'Model: "{model_name}"', _rule("┏", "━", "┳", "┓", widths)]
    lines += _table_row(header, widths, "┃", aligned, header=True)
    lines.append(_rule("┡", "━", "╇", "┩", widths))
    for index, row in enumerate(rows):
        if index:
            lines.append(_rule("├", "─", "┼", "┤", widths))
        params = "0 (unbuilt)" if row.params is None else f"{row.params:,}"
        cells = (f"{row.name} ({row.class_name})", row.output_shape, params)
        lines += _table_row((*cells, row.connected or "-") if graph else cells, widths, "│", aligned)
    lines.append(_rule("└", "─", "┴", "┘", widths))

    total = trainable + non_trainable + (optimizer_params or 0)
    counts = [("Total", total), ("Trainable", trainable), ("Non-trainable", non_trainable)]
    if optimizer_params is not None:
        counts.append(("Optimizer", optimizer_params))
    lines += [f" {label} params: {count:,} ({readable_memory_size(count * _FLOAT32_BYTES)})"
              for label, count in counts]
    return "\n".join(lines)


def _cell_widths(line_length: int, positions: tuple[float, ...]) -> list[int]:
    """Widths of the cells including their one-space padding on each side, as rich lays them out."""
    if isinstance(line_length, bool) or not isinstance(line_length, int):
        raise ValueError(f"format_summary: `line_length` must be an int, got {line_length!r}")
    columns, current = [], 0
    for position in positions:
        width = int(position * line_length) - current
        if width < 4:
            raise ValueError(f"Insufficient console width to print summary: line_length={line_length}.")
        columns.append(width)
        current += width
    padded = [width + 2 for width in columns]
    borders = len(padded) + 1
    return _ratio_reduce(sum(padded) - (line_length - borders), padded)


def _ratio_reduce(excess: int, widths: list[int]) -> list[int]:
    """rich ``ratio_reduce`` with equal ratios: take the excess evenly, rounding half to even."""
    result, remaining = [], excess
    for index, width in enumerate(widths):
        share = min(width, round(remaining / (len(widths) - index)))
        result.append(width - share)
        remaining -= share
    return result


def _rule(left: str, fill: str, cross: str, right: str, widths: list[int]) -> str:
    return left + cross.join(fill * width for width in widths) + right


def _table_row(cells: tuple[str, ...], widths: list[int], edge: str, aligned: tuple[bool, ...],
               header: bool = False) -> list[str]:
    """One table row; short cells are padded below, except header cells, which rich aligns to the bottom."""
    columns = [_wrap(cell, width - 2, right)
               for cell, width, right in zip(cells, widths, aligned, strict=True)]
    height = max(len(lines) for lines in columns)
    for index, (lines, width) in enumerate(zip(columns, widths, strict=True)):
        blank = [" " * (width - 2)] * (height - len(lines))
        columns[index] = blank + lines if header else lines + blank
    return [edge + edge.join(f" {lines[i]} " for lines in columns) + edge for i in range(height)]


def _wrap(text: str, width: int, right: bool) -> list[str]:
    """rich's wrapping with ``overflow="ellipsis"``: break between words, cut over-long words with '…'."""
    lines = []
    for paragraph in text.split("\n"):
        for line in _divide_line(paragraph, width):
            if len(line) > width:  # rich crops trailing spaces that stick out of the cell first
                trailing = len(line) - len(line.rstrip())
                line = line[:len(line) - min(trailing, len(line) - width)]
            if right:
                line = line.rstrip()
            if len(line) > width:
                line = line[:width - 1] + "…"
            lines.append(line.rjust(width) if right else line.ljust(width))
    return lines


def _divide_line(text: str, width: int) -> list[str]:
    breaks, offset = [], 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        word_length = len(word.rstrip())
        if width - offset >= word_length:
            offset += len(word)
            continue
        if start:
            breaks.append(start)
        offset = len(word)
    return [text[a:b] for a, b in pairwise([0, *breaks, len(text)])]
