"""The image models' inference kernels one by one: time per call and GFLOP/s of the convolutions.

Each layer of the tutorial CNN and the CIFAR-style CNN (bench_peers.py) at inference is a compiled
one-layer program, run through the optimization pipeline as a model's predict is (so a
convolution carries its bias/BatchNormalization/relu epilogue, and in the "+ max-pool" rows the
2x2 max-pool after it as the epilogue's tail; a Dense its bias and activation) with its weights
as states, as in a model. Timed through the native entry with the argument array prepared once
(bench_gemm.native_call's trick), so Python's call overhead is not in the figures. Run with
another graphc tree first on PYTHONPATH to measure that build the same way (interleave the runs:
the machine drifts).

Run: .venv/bin/python benchmarks/bench_conv.py [--threads 2] [--batch 64 1] [--seconds 0.3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine_line, median_s, table  # noqa: E402

Layer = tuple[str, tuple[int, ...], Callable, float]  # label, image shape, record(graph, x), flops per sample


def _conv(height: int, width: int, channels: int, filters: int, size: int, same: bool, norm: bool,
          pool: bool = False) -> Layer:
    """With `pool`, a 2x2 max-pool follows: the fusion pass makes it the convolution's epilogue tail."""
    from graphc.ops import builders as b
    from graphc.ops.convolution import CONV2D

    pad = size // 2 if same else 0
    out_h, out_w = (height, width) if same else (height - size + 1, width - size + 1)

    def record(graph, x):
        w = graph.state("w", _tensor((size, size, channels, filters)))
        bias = graph.state("b", _tensor((filters,)))
        y = CONV2D(x, w, strides=(1, 1), dilation=(1, 1), padding=((pad, pad), (pad, pad))) + bias
        if norm:
            y = y * graph.state("scale", _tensor((filters,))) + graph.state("shift", _tensor((filters,)))
        y = b.maximum(y, 0.0)
        return _pool(out_h, out_w, filters)[2](graph, y) if pool else y

    label = f"conv {height}x{width}x{channels} -> {filters}, {size}x{size} {'same' if same else 'valid'}"
    label += " + max-pool 2x2" if pool else ""
    return label, (height, width, channels), record, 2.0 * out_h * out_w * size * size * channels * filters


def _pool(height: int, width: int, channels: int) -> Layer:
    from graphc.ops.convolution import POOL2D

    def record(graph, x):
        return POOL2D(x, mode="max", pool_size=(2, 2), strides=(2, 2), padding=((0, 0), (0, 0)))

    return f"max-pool 2x2 {height}x{width}x{channels}", (height, width, channels), record, 0.0


def _dense(inputs: int, units: int, activation: str) -> Layer:
    from graphc.frontend.activations import softmax
    from graphc.ops import builders as b

    def record(graph, x):
        w = graph.state("w", _tensor((inputs, units)))
        y = b.matmul(x, w) + graph.state("b", _tensor((units,)))
        return b.maximum(y, 0.0) if activation == "relu" else softmax(y)

    return f"dense {inputs} -> {units} {activation}", (inputs,), record, 2.0 * inputs * units


def _tensor(shape: tuple[int | None, ...]):
    from graphc.ir import TensorType

    return TensorType(shape)


def layers() -> list[Layer]:
    return [
        _conv(28, 28, 1, 32, 5, False, False),
        _pool(24, 24, 32),
        _conv(28, 28, 1, 32, 5, False, False, pool=True),
        _dense(4608, 128, "relu"),
        _dense(128, 10, "softmax"),
        _conv(32, 32, 3, 32, 3, True, True),
        _conv(32, 32, 32, 32, 3, True, True),
        _pool(32, 32, 32),
        _conv(32, 32, 32, 32, 3, True, True, pool=True),
        _conv(16, 16, 32, 64, 3, True, True),
        _pool(16, 16, 64),
        _conv(16, 16, 32, 64, 3, True, True, pool=True),
    ]


def build(chosen: list[Layer]):
    from graphc_runtime import Library

    from graphc.codegen import build_library
    from graphc.ir import Graph
    from graphc.passes import run_pipeline

    programs = {}
    for i, (_, shape, record, _) in enumerate(chosen):
        graph = Graph(f"layer{i}")
        graph.outputs["y"] = record(graph, graph.input("x", _tensor((None, *shape))))
        programs[graph.name] = run_pipeline(graph, 2).graph
    return Library.load(build_library(programs, tempfile.mkdtemp(prefix="bench-conv-")))


def native_call(program, feeds: dict[str, np.ndarray]):
    """The program's native entry with the argument array one Program call left in its frame."""
    out = program(**feeds)
    frame = program._frames[-1]
    fn, argv, workspace = program._fn, frame.argv, frame.ws_address
    batch = next(iter(feeds.values())).shape[0]

    def call() -> None:
        if fn(batch, argv, workspace) != 0:
            raise RuntimeError(f"{program.name} failed")
        call.keep = (feeds, out, frame)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 1])
    parser.add_argument("--seconds", type=float, default=0.3, help="time budget per measurement")
    parser.add_argument("--only", default="", help="layers whose label contains this text")
    args = parser.parse_args()
    from graphc_runtime import StateStore, set_num_threads

    import graphc

    set_num_threads(args.threads)
    chosen = [layer for layer in layers() if args.only in layer[0]]
    library = build(chosen)
    rng = np.random.default_rng(0)
    rows = []
    for i, (label, shape, _, flops) in enumerate(chosen):
        program = library.programs[f"layer{i}"]
        store = StateStore(program.states)
        for spec in program.states:
            store.assign(spec.name, rng.standard_normal(spec.concrete(0)).astype(np.float32) * 0.1)
        program.bind(store)
        cells = [label]
        for batch in args.batch:
            x = rng.random((batch, *shape), dtype=np.float32)
            call = native_call(program, {"x": x})
            call()
            probe = median_s(call, 5)
            seconds = median_s(call, max(5, int(args.seconds / max(probe, 1e-6))))
            cells.append(f"{1e3 * seconds:.4f}")
            cells.append(f"{batch * flops / seconds / 1e9:.1f}" if flops else "-")
        rows.append(cells)
    header = ["layer"]
    for batch in args.batch:
        header += [f"ms, batch {batch}", f"GFLOP/s, batch {batch}"]
    print(f"{machine_line()}, {args.threads} threads, graphc from {Path(graphc.__file__).parent.parent}")
    print(table(header, rows))


if __name__ == "__main__":
    main()
