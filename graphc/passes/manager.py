"""The pass manager: named, documented Graph -> Graph passes run in order with instruments.

A pass is a pure function: it never mutates its input graph, it returns a new one (or the
same object when it has nothing to change). Besides the graph, it reports named counters
(nodes folded, groups fused, bytes saved...) that the manager records with the node counts
and the time the pass took, so a pipeline run can be inspected pass by pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from graphc.ir.graph import Graph

Counters = dict[str, int | float]
Transform = Callable[[Graph], tuple[Graph, Counters]]


@dataclass(frozen=True)
class Pass:
    """A named transformation; calling it is the plain `Graph -> Graph` function."""

    name: str
    transform: Transform
    doc: str = ""

    def __call__(self, graph: Graph) -> Graph:
        return self.transform(graph)[0]


def graph_pass(name: str) -> Callable[[Transform], Pass]:
    """Decorator: a function returning (graph, counters) becomes a Pass documented by its docstring."""

    def wrap(fn: Transform) -> Pass:
        return Pass(name, fn, (fn.__doc__ or "").strip())

    return wrap


@dataclass
class PassStats:
    """What one pass did: node counts around it, its wall time and its own counters."""

    name: str
    nodes_before: int
    nodes_after: int
    seconds: float
    counters: Counters = field(default_factory=dict)

    @property
    def nodes_removed(self) -> int:
        return self.nodes_before - self.nodes_after


class Instrument:
    """Hooks called around a pipeline run; subclasses override what they need."""

    def start(self, graph: Graph) -> None:
        """Called once with the input graph, before the first pass."""

    def after_pass(self, pass_: Pass, graph: Graph, stats: PassStats) -> None:
        """Called with each pass's result graph and statistics."""


@dataclass
class PipelineResult:
    graph: Graph
    stats: list[PassStats]
    level: int | None = None

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stats)

    def counter(self, name: str) -> int | float:
        """The sum of a named counter over every pass that reports it."""
        return sum(s.counters.get(name, 0) for s in self.stats)

    def table(self) -> str:
        """A plain-text table: one line per pass."""
        lines = [f"{'pass':<16} {'nodes':>13} {'ms':>8}  counters"]
        for s in self.stats:
            counters = ", ".join(f"{k}={_fmt(v)}" for k, v in s.counters.items())
            nodes = f"{s.nodes_before:>5} -> {s.nodes_after:<5}"
            lines.append(f"{s.name:<16} {nodes} {s.seconds * 1e3:>8.2f}  {counters}")
        return "\n".join(lines)


def _fmt(value: int | float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def run_passes(
    graph: Graph, passes: Sequence[Pass], instruments: Iterable[Instrument] = ()
) -> PipelineResult:
    """Run `passes` in order; each instrument sees the input and every intermediate graph."""
    instruments = tuple(instruments)
    for instrument in instruments:
        instrument.start(graph)
    stats: list[PassStats] = []
    for pass_ in passes:
        before = len(graph.nodes)
        started = time.perf_counter()
        graph, counters = pass_.transform(graph)
        elapsed = time.perf_counter() - started
        record = PassStats(pass_.name, before, len(graph.nodes), elapsed, dict(counters))
        stats.append(record)
        for instrument in instruments:
            instrument.after_pass(pass_, graph, record)
    return PipelineResult(graph, stats)
