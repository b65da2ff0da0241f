"""`graphc compile MODEL OUT_DIR`: ahead-of-time compilation into a deployable C library folder."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from graphc.build.aot import WEIGHTS_MODES, WEIGHTS_THRESHOLD, compile_model
from graphc.codegen.link import LinkError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compile", help="compile a model into a shared library, object file, C header and manifest",
        description="Compile a saved model (.h5) or a Python file defining build_model() (or a module-level "
                    "`model`) into OUT_DIR: lib<name>.so, <name>.o, <name>.h, <name>.manifest.json.")
    parser.add_argument("model", help="a full-model .h5 file, or a .py file that builds the model "
                                      "(file.py:function names the builder)")
    parser.add_argument("out_dir", nargs="?", help="the output folder (created if missing)")
    parser.add_argument("-o", "--output", help="the output folder, as -o like other compilers take it")
    parser.add_argument("--name", default="model", help="C prefix of the API functions (default: model)")
    parser.add_argument("--target", default="host",
                        help="'host' (default: this CPU), 'generic' (any x86-64), 'x86-64-v3' (AVX2), or an "
                             "LLVM CPU name")
    parser.add_argument("--weights", choices=WEIGHTS_MODES, default="auto",
                        help="embed the weights in the library, write them to <name>.weights, or embed them "
                             f"up to --weights-threshold bytes (default: auto, {WEIGHTS_THRESHOLD} bytes)")
    parser.add_argument("--weights-threshold", type=int, default=WEIGHTS_THRESHOLD, help=argparse.SUPPRESS)
    parser.add_argument("--with-training", action="store_true",
                        help="also compile the training step (the model must be compiled with a loss)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (args.out_dir is None) == (args.output is None):
        print("graphc compile: error: give the output folder once, as OUT_DIR or as -o/--output",
              file=sys.stderr)
        return 2
    try:
        build = compile_model(args.model, args.out_dir or args.output, name=args.name,
                              with_training=args.with_training, target=args.target, weights=args.weights,
                              weights_threshold=args.weights_threshold)
    except (FileNotFoundError, ValueError, LinkError) as err:
        print(f"graphc compile: error: {err}", file=sys.stderr)
        return 1
    manifest = build.manifest
    (source,) = manifest["inputs"]
    (result,) = manifest["outputs"]
    print(f"compiled {manifest['model']!r} for {manifest['target']['cpu']} into {build.directory}")
    print(f"  input {source['shape']} -> output {result['shape']}, {len(manifest['params'])} parameter "
          f"arrays ({manifest['weights']['bytes']} bytes, {manifest['weights']['mode']})")
    stateful = manifest["stateful"]
    if stateful is not None:
        print(f"  stateful: every call takes batch {stateful['batch_size']}; the context carries "
              f"{len(stateful['states'])} states from call to call ({manifest['name']}_reset_states zeroes "
              "them)")
    for path in (build.library, build.object, build.header, build.manifest_path, build.weights):
        if path is not None:
            print(f"  {path.name} ({path.stat().st_size} bytes)")
    return 0
