"""`graphc export MODEL`: a Graphviz diagram (DOT, and SVG when Graphviz is installed) of a model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from graphc.build.stages import STAGES, stage_graph
from graphc.commands.inspect import add_model_arguments, resolve
from graphc.export.graph_dot import graph_to_dot
from graphc.export.model_dot import model_to_dot
from graphc.export.render import INSTALL_HINT, GraphvizNotFoundError, has_dot, render
from graphc.passes.pipeline import parse_level

CHOICES = (*STAGES, "layers")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export", help="draw a model's graph at a stage of the compiler (DOT, and SVG with Graphviz)",
        description="Write the DOT text of one stage of a model: forward (the predict program), training "
                    "(forward, loss, backward and optimizer update by role), optimized (the training step "
                    "after the pipeline, fused kernels as clusters) or layers (one box per layer, as "
                    "plot_model draws it). The DOT needs no Graphviz; with Graphviz's `dot` installed an "
                    "image is rendered next to it.")
    add_model_arguments(parser)
    parser.add_argument("--stage", choices=CHOICES, default="optimized",
                        help="what to draw (default: optimized)")
    parser.add_argument("-o", "--output", help="the .dot file to write (default: <model>.<stage>.dot)")
    parser.add_argument("--format", choices=("svg", "png", "pdf"), default="svg",
                        help="the image rendered next to the DOT when Graphviz is installed (default: svg)")
    parser.add_argument("--no-image", action="store_true", help="write the DOT text only")
    parser.add_argument("--clusters", choices=("fusion", "layer", "none"), default=None,
                        help="group nodes by fused kernel or by layer (default: fusion for the optimized "
                             "stage, none otherwise)")
    parser.add_argument("--rankdir", choices=("TB", "LR", "BT", "RL"), default="TB")
    parser.add_argument("--no-shapes", action="store_true", help="leave shapes and dtypes out of the labels")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        model = resolve(args)
        text = _dot(model, args)
    except (FileNotFoundError, ValueError, TypeError) as err:
        print(f"graphc export: error: {err}", file=sys.stderr)
        return 1
    out = Path(args.output or f"{model.name}.{args.stage}.dot")
    render(text, out, "dot")
    print(f"wrote {out}")
    if args.no_image:
        return 0
    image = out.with_suffix(f".{args.format}")
    if not has_dot():
        print(f"no image: Graphviz's `dot` is not on PATH; {INSTALL_HINT}")
        return 0
    try:
        render(text, image, args.format)
    except (GraphvizNotFoundError, RuntimeError) as err:
        print(f"graphc export: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {image}")
    return 0


def _dot(model: Any, args: argparse.Namespace) -> str:
    if args.stage == "layers":
        return model_to_dot(model, show_shapes=not args.no_shapes, rankdir=args.rankdir).source
    clusters = args.clusters or ("fusion" if args.stage == "optimized" else "none")
    graph = stage_graph(model, args.stage, args.level)
    title = f"{model.name}: {args.stage}"
    if args.stage == "optimized":
        title += f" (O{parse_level(args.level)})"
    return graph_to_dot(graph, title=title, show_shapes=not args.no_shapes,
                        clusters=None if clusters == "none" else clusters, rankdir=args.rankdir)
