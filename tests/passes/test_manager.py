"""The pass manager: pipelines by level, statistics, instruments, purity."""

from __future__ import annotations

import pytest

from graphc.ir import Graph, GraphError, TensorType, format_graph
from graphc.ops import builders as b
from graphc.passes import (
    PIPELINES,
    DumpEach,
    Pass,
    TimeEach,
    VerifyEach,
    graph_pass,
    parse_level,
    run_passes,
    run_pipeline,
    text_dump,
)


def _graph() -> Graph:
    g = Graph("small")
    x = g.input("x", TensorType((None, 3)))
    w = g.state("w", TensorType((3,)))
    unused = b.exp(x)
    del unused
    g.outputs["y"] = b.tanh(x * w * 1.0) + b.tanh(x * w * 1.0)
    return g


def test_levels_name_their_passes_and_o0_is_dce_only() -> None:
    names = {level: [p.name for p in passes] for level, passes in PIPELINES.items()}
    assert names[0] == ["dce"]
    assert names[1] == ["dce", "infer-shapes", "fold-constants", "simplify", "cse"]
    assert names[2] == names[1] + ["mark-epilogues", "fuse"]
    assert names[3] == names[1] + ["mark-epilogues", "fuse-aggressive"]
    for passes in PIPELINES.values():
        assert all(p.doc for p in passes), "every pass documents itself"


@pytest.mark.parametrize("level, expected", [(0, 0), ("2", 2), ("O3", 3), ("o1", 1)])
def test_levels_parse(level: int | str, expected: int) -> None:
    assert parse_level(level) == expected


@pytest.mark.parametrize("level", [4, -1, "O4", "fast", None, True])
def test_bad_levels_are_rejected_by_name(level: object) -> None:
    with pytest.raises(ValueError, match="optimization level .* got"):
        run_pipeline(_graph(), level)  # type: ignore[arg-type]


def test_statistics_follow_node_counts_and_the_input_is_untouched() -> None:
    graph = _graph()
    text = format_graph(graph)
    result = run_pipeline(graph, 2)
    assert format_graph(graph) == text
    assert [s.name for s in result.stats] == [p.name for p in PIPELINES[2]]
    counts = [len(graph.nodes)] + [s.nodes_after for s in result.stats]
    assert [s.nodes_before for s in result.stats] == counts[:-1]
    assert result.stats[0].nodes_removed == 1  # exp(x)
    assert result.counter("merged") == 2  # the second x*w and its tanh, once simplify dropped the *1
    assert result.stats[-1].counters["kernels_after"] == 1
    assert all(s.seconds >= 0 for s in result.stats)
    assert result.graph.outputs.keys() == graph.outputs.keys()
    assert "fuse" in result.table()


def test_a_pass_is_a_plain_graph_function_too() -> None:
    @graph_pass("noop")
    def noop(graph: Graph) -> tuple[Graph, dict]:
        """Does nothing."""
        return graph, {"calls": 1}

    assert isinstance(noop, Pass) and noop.doc == "Does nothing."
    graph = _graph()
    assert noop(graph) is graph
    assert run_passes(graph, [noop, noop]).counter("calls") == 2


def test_verify_each_names_the_pass_that_broke_the_graph() -> None:
    @graph_pass("breaker")
    def breaker(graph: Graph) -> tuple[Graph, dict]:
        """Points an update at a value of the wrong type."""
        graph.updates["w"] = graph.outputs["y"]
        return graph, {}

    with pytest.raises(GraphError, match="after pass 'breaker'"):
        run_passes(_graph(), [breaker], [VerifyEach()])


def test_dump_and_time_each_see_every_stage(tmp_path) -> None:
    dumped: list[tuple[str, int]] = []
    lines: list[str] = []
    run_pipeline(_graph(), 1, instruments=[DumpEach(lambda name, g: dumped.append((name, len(g.nodes)))),
                                          TimeEach(lines.append), DumpEach(text_dump(tmp_path))])
    assert [name for name, _ in dumped] == ["00-input", "01-dce", "02-infer-shapes", "03-fold-constants",
                                            "04-simplify", "05-cse"]
    assert len(lines) == 5 and lines[0].startswith("small: dce ")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files[0] == "small.00-input.txt" and len(files) == 6
    assert (tmp_path / "small.05-cse.txt").read_text().startswith(f"graph small ({dumped[-1][1]} nodes)")
