"""`graphc inspect MODEL`: the optimization pipeline, kernels and planned memory of a model's programs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from graphc.build.inspect import REPORT_BATCH, inspect_model
from graphc.build.loader import load_model, split_target


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The model argument shared by `inspect` and `export`."""
    parser.add_argument("model", help="a Python file that builds the model (file.py or file.py:function), "
                                      "or a saved .h5 model")
    parser.add_argument("--function", help="the function of the file that returns the model (default: "
                                           "build_model/make_model/create_model/get_model, or `model`)")
    parser.add_argument("-O", "--level", default="2", help="optimization level 0..3 (default: 2)")


def resolve(args: argparse.Namespace) -> Any:
    path, function = split_target(args.model)
    return load_model(path, args.function or function)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "inspect", help="show the pass pipeline, kernels and planned memory of a model",
        description="Build the model with the user's own Python file, record its programs (predict, "
                    "eval_step, train_step), run the optimization pipeline and print per-pass statistics "
                    "and timing, node counts, fused kernels and the workspace arena before and after "
                    "memory planning (static + per_batch*N bytes).")
    add_model_arguments(parser)
    parser.add_argument("--batch", type=int, default=REPORT_BATCH,
                        help=f"the batch size N at which arena sizes are also given in MiB "
                             f"(default: {REPORT_BATCH})")
    parser.add_argument("--program", action="append", help="only this program (repeatable)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.batch < 1:
        print(f"graphc inspect: error: --batch must be at least 1, got {args.batch}", file=sys.stderr)
        return 2
    try:
        report = inspect_model(resolve(args), args.level)
        if args.program:
            report.programs = [report.program(name) for name in args.program]
    except (FileNotFoundError, ValueError, TypeError, KeyError) as err:
        print(f"graphc inspect: error: {err}", file=sys.stderr)
        return 1
    print(report.text(args.batch))
    return 0
