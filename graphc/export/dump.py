"""A DOT dump for the pass manager's DumpEach instrument: one diagram per pass of a pipeline run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from graphc_runtime import atomic

from graphc.export.graph_dot import graph_to_dot
from graphc.ir.graph import Graph


def dot_dump(directory: str | Path, **options: Any) -> Callable[[str, Graph], None]:
    """A `dump(name, graph)` callback writing `<directory>/<graph>.<name>.dot` with graph_to_dot `options`."""
    out = Path(directory)

    def dump(name: str, graph: Graph) -> None:
        out.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in graph.name)
        text = graph_to_dot(graph, title=f"{graph.name} {name}", **options)
        atomic.write_text(out / f"{safe}.{name}.dot", text)

    return dump
