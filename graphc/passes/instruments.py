"""Instruments for pipeline runs: verify, time and dump the graph after every pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from graphc.ir.graph import Graph
from graphc.ir.printer import format_graph
from graphc.ir.verify import GraphError, verify
from graphc.passes.manager import Instrument, Pass, PassStats

Dump = Callable[[str, Graph], None]


class VerifyEach(Instrument):
    """Structural verification after every pass, so a broken pass is named at once."""

    def start(self, graph: Graph) -> None:
        try:
            verify(graph)
        except GraphError as error:
            raise GraphError(f"pipeline input: {error}") from error

    def after_pass(self, pass_: Pass, graph: Graph, stats: PassStats) -> None:
        try:
            verify(graph)
        except GraphError as error:
            raise GraphError(f"after pass {pass_.name!r}: {error}") from error


class TimeEach(Instrument):
    """Reports each pass's wall time and node counts to `sink` (print by default)."""

    def __init__(self, sink: Callable[[str], None] = print) -> None:
        self.sink = sink

    def after_pass(self, pass_: Pass, graph: Graph, stats: PassStats) -> None:
        self.sink(f"{graph.name}: {pass_.name} {stats.seconds * 1e3:.2f} ms, "
                  f"{stats.nodes_before} -> {stats.nodes_after} nodes")


class DumpEach(Instrument):
    """Calls `dump(name, graph)` with the input (`00-input`) and after each pass (`01-dce`, ...).

    `dump` can write text (see `text_dump`), DOT from graphc.export, or collect graphs in a list.
    """

    def __init__(self, dump: Dump, include_input: bool = True) -> None:
        self.dump = dump
        self.include_input = include_input
        self._count = 0

    def start(self, graph: Graph) -> None:
        self._count = 0
        if self.include_input:
            self.dump("00-input", graph)

    def after_pass(self, pass_: Pass, graph: Graph, stats: PassStats) -> None:
        self._count += 1
        self.dump(f"{self._count:02d}-{pass_.name}", graph)


def text_dump(directory: str | Path) -> Dump:
    """A dump callback writing `format_graph` text to `<directory>/<graph>.<name>.txt`."""
    out = Path(directory)

    def dump(name: str, graph: Graph) -> None:
        out.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in graph.name)
        (out / f"{safe}.{name}.txt").write_text(format_graph(graph) + "\n")

    return dump
