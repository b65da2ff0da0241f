"""Node and kernel counts of the MLP training step after each optimization pass, as Markdown.

Models: 784-512-512-10 (relu, softmax) and the same with Dropout(0.2) after each hidden
layer, compiled with adam + sparse_categorical_crossentropy; the spec is resolved by one
train_on_batch, then graphc.frontend.programs.build_programs records the train_step program
and runs the pipeline. Kernels are what graphc.passes.kernels.partition makes of the graph
after each pass (a GEMM with its epilogue counts as one kernel).

Run: .venv/bin/python benchmarks/pass_stats.py [--level 2]
"""

from __future__ import annotations

import argparse

import numpy as np

from graphc.frontend.programs import build_programs
from graphc.ir.graph import Graph
from graphc.keras import backend
from graphc.keras.layers import Dense, Dropout, Input
from graphc.keras.models import Sequential
from graphc.keras.utils import set_random_seed
from graphc.passes import DumpEach, PipelineResult, VerifyEach
from graphc.passes.kernels import partition


def mlp(dropout: bool) -> Sequential:
    backend.clear_session()
    set_random_seed(0)
    stack: list = [Input((784,))]
    for _ in range(2):
        stack.append(Dense(512, activation="relu"))
        if dropout:
            stack.append(Dropout(0.2))
    stack.append(Dense(10, activation="softmax"))
    model = Sequential(stack)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.random((8, 784), np.float32), rng.integers(0, 10, 8).astype(np.float32))
    return model


def stages(model: Sequential, level: int) -> tuple[list[tuple[str, Graph]], PipelineResult]:
    """The train_step graph as recorded and after each pass."""
    seen: list[tuple[str, Graph]] = []
    dump = DumpEach(lambda name, graph: seen.append((name.split("-", 1)[1], graph)))
    programs = build_programs(model, model._spec, model.optimizer, level=level,
                              instruments=(VerifyEach(), dump))
    train = [(name, graph) for name, graph in seen if graph.name.endswith("/train")]
    return train, programs.pipelines["train_step"]


def table(level: int) -> str:
    columns = {"MLP": mlp(False), "Dropout MLP": mlp(True)}
    runs = {name: stages(model, level) for name, model in columns.items()}
    header = "| stage | " + " | ".join(f"{name} nodes | {name} kernels" for name in columns) + " |"
    lines = [header, "|" + "---|" * (1 + 2 * len(columns))]
    steps = [name for name, _ in runs["MLP"][0]]
    for i, step in enumerate(steps):
        cells = []
        for stage_list, _ in runs.values():
            graph = stage_list[i][1]
            cells += [str(len(graph.nodes)), str(len(partition(graph)))]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines.append("")
    for name, (_, result) in runs.items():
        fuse = next(s for s in result.stats if s.name.startswith("fuse")).counters
        first = next(s for s in result.stats if s.name == "mark-epilogues").counters["kernels_before"]
        lines.append(
            f"- {name}: {fuse['groups_fused']} fusion groups ({fuse['update_groups']} writing state updates, "
            f"{fuse['reduction_groups']} ending in a reduction) and {result.counter('epilogues')} GEMM "
            f"epilogues take the kernels from {first} to {fuse['kernels_after']}; values no longer stored: "
            f"{result.counter('bytes_saved_static')} B + {result.counter('bytes_saved_per_sample')} B per "
            f"sample; the passes took {result.seconds * 1e3:.0f} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", type=int, default=2, choices=range(4))
    args = parser.parse_args()
    print(f"train_step at O{args.level}\n")
    print(table(args.level))


if __name__ == "__main__":
    main()
