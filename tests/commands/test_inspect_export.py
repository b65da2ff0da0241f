"""`graphc inspect` and `graphc export` run through graphc.cli.main on a user's model script."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from graphc.build import inspect_model, load_model, model_programs, stage_graph
from graphc.cli import main
from graphc.codegen.buffers import assign_buffers
from graphc.export import has_dot
from graphc.export.graph_dot import node_kind
from graphc.passes.kernels import partition
from tests.export.dotparse import parse_dot

SCRIPT = '''
from graphc.keras.layers import Dense, Dropout
from graphc.keras.models import Sequential


def make(dropout=0.0):
    layers = [Dense(16, activation="relu", input_shape=(4,))]
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(3, activation="softmax"))
    model = Sequential(layers, name="tiny")
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def build_model():
    return make(0.2)


def uncompiled():
    return Sequential([Dense(2, input_shape=(3,))], name="plain")


def not_a_model():
    return 42


if __name__ == "__main__":
    raise SystemExit("the commands must not run the script's main block")
'''


@pytest.fixture()
def script(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_model.py"
    path.write_text(textwrap.dedent(SCRIPT))
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_prints_the_pipeline_kernels_and_planned_memory(script: Path, capsys) -> None:
    code, out, err = _run(capsys, "inspect", str(script), "--program", "train_step", "--batch", "64")
    assert code == 0 and err == ""
    model = load_model(script)
    programs = model_programs(model)
    graph = programs.graphs["train_step"]
    plan = assign_buffers(graph, partition(graph))
    lines = out.splitlines()
    assert lines[0] == "model 'tiny' at O2"
    assert not any(line.startswith("program predict") for line in lines)
    assert any(line.startswith(f"program train_step: {len(programs.recorded['train_step'].nodes)} nodes "
                               f"recorded -> {len(graph.nodes)} after optimization") for line in lines)
    for stats in programs.pipelines["train_step"].stats:
        assert any(line.split()[:4] == [stats.name, str(stats.nodes_before), "->", str(stats.nodes_after)]
                   for line in lines), stats.name
    before, after = plan.before_planning, plan.arena_size
    assert f"  arena before planning: {before.static:,} + {before.per_batch:,}*N bytes" in out
    assert f"  arena after planning:  {after.static:,} + {after.per_batch:,}*N bytes" in out
    assert f"({after.at(64) / 2**20:.2f} MiB at N=64)" in out
    fused = [k for k in partition(graph) if len(k.nodes) > 1]
    assert f"  kernels: {len(partition(graph))} ({len(fused)} fused)" in lines


def test_inspect_model_reports_every_program_consistently_with_the_planner(script: Path) -> None:
    model = load_model(script, "make")
    report = inspect_model(model, level="O2")
    assert [p.name for p in report.programs] == ["predict", "eval_step", "train_step"]
    programs = model_programs(model, 2)
    for program in report.programs:
        graph = programs.graphs[program.name]
        plan = assign_buffers(graph, partition(graph))
        assert program.nodes_optimized == len(graph.nodes)
        assert program.memory.before == plan.before_planning and program.memory.after == plan.arena_size
        assert program.memory.in_place_writes == len(plan.in_place)
        assert program.kernels == len(partition(graph))
        assert sum(program.roles.values()) == len(graph.nodes)
    train = report.program("train_step")
    assert train.fused and train.memory.after.per_batch < train.memory.before.per_batch
    assert {"forward", "loss", "backward", "update"} <= set(train.roles)
    assert [s.name for s in inspect_model(model, level=0).program("train_step").passes] == ["dce"]
    assert "program eval_step" in report.text()


def test_inspect_names_the_stateful_layers(script: Path) -> None:
    from graphc.keras import Sequential
    from graphc.keras.layers import LSTM

    model = Sequential([LSTM(3, stateful=True, batch_input_shape=(2, 4, 2), name="memory")])
    model.compile("sgd", "mse")
    report = inspect_model(model)
    assert report.stateful == ["memory"] and "stateful layers ['memory']" in report.text()
    assert inspect_model(load_model(script, "make")).stateful == []


@pytest.mark.parametrize("stage", ["forward", "training", "optimized"])
def test_export_writes_the_dot_of_each_stage(script: Path, tmp_path: Path, capsys, stage: str) -> None:
    out = tmp_path / f"{stage}.dot"
    code, text, _ = _run(capsys, "export", f"{script}:make", "--stage", stage, "-o", str(out), "--no-image")
    assert code == 0 and text.splitlines() == [f"wrote {out}"]
    dot = parse_dot(out.read_text())
    graph = stage_graph(load_model(script, "make"), stage)
    drawn = {name for name in dot.nodes if name.startswith("n")}
    assert drawn == {f"n{n.id}" for n in graph.nodes}
    assert {dot.label_lines(f"n{n.id}")[0] for n in graph.nodes if node_kind(n) == "op"} == {
        n.op for n in graph.nodes if node_kind(n) == "op"}
    fused = [c for c in dot.clusters if c.name.startswith("cluster_fusion_")]
    assert bool(fused) is (stage == "optimized")
    assert {c.name for c in dot.clusters} - {c.name for c in fused} == (
        set() if stage == "forward" else {"cluster_legend"})
    roles = {dot.nodes[n].get("class", "").split()[-1] for n in drawn}
    assert ("role-backward" in roles) is (stage != "forward")


def test_export_layers_and_default_names(script: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["export", str(script), "--stage", "training", "--clusters", "layer", "--no-image"]
    assert _run(capsys, *argv)[0] == 0
    clusters = parse_dot((tmp_path / "tiny.training.dot").read_text()).clusters
    assert [c.attrs["label"] for c in clusters][-1] == "roles" and len(clusters) == 4  # 3 layers, legend
    code, _, _ = _run(capsys, "export", str(script), "--stage", "layers", "--no-image")
    assert code == 0
    dot = parse_dot((tmp_path / "tiny.layers.dot").read_text())
    assert [dot.nodes[n]["label"].split("|")[1].strip("{}") for n in dot.nodes][:3] == [
        "InputLayer", "Dense", "Dropout"]


@pytest.mark.skipif(not has_dot(), reason="Graphviz `dot` is not installed")
def test_export_renders_an_svg_next_to_the_dot(script: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "graph.dot"
    code, text, _ = _run(capsys, "export", str(script), "-o", str(out))
    assert code == 0 and text.splitlines() == [f"wrote {out}", f"wrote {out.with_suffix('.svg')}"]
    assert out.with_suffix(".svg").read_text().startswith("<?xml")


def test_export_without_graphviz_writes_the_dot_and_says_how_to_install(script: Path, tmp_path: Path, capsys,
                                                                        monkeypatch) -> None:
    monkeypatch.setenv("PATH", "")
    out = tmp_path / "graph.dot"
    code, text, _ = _run(capsys, "export", str(script), "-o", str(out))
    assert code == 0 and out.exists() and not out.with_suffix(".svg").exists()
    assert "apt-get install graphviz" in text


@pytest.mark.parametrize(("target", "extra", "message"), [
    ("missing.py", [], "does not exist"),
    ("{script}:nowhere", [], "no function 'nowhere'"),
    ("{script}", ["--function", "not_a_model"], "must return a graphc Model, got int"),
    ("{script}:uncompiled", ["--stage", "training"], "needs a training graph"),
    ("{script}", ["-O", "7"], "optimization level"),
])
def test_bad_requests_fail_with_a_message(script: Path, tmp_path: Path, capsys, target: str, extra: list[str],
                                          message: str) -> None:
    target = target.format(script=script) if "{" in target else str(tmp_path / target)
    code, _, err = _run(capsys, "export", target, "-o", str(tmp_path / "x.dot"), *extra)
    assert code == 1 and message in err and err.startswith("graphc export: error: ")
    if "--stage" not in extra:
        code, _, err = _run(capsys, "inspect", target, *extra)
        assert code == 1 and message in err and err.startswith("graphc inspect: error: ")
