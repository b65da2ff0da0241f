"""graphc's GEMM against numpy (OpenBLAS) in GFLOP/s, with 1 and 2 threads.

Shapes: 512-2048 square, and the forward and backward products of the MLP 784-512-512-10 at
batch 128 (X@W, dY@W^T, X^T@dY), plus batch-1 inference. Each graphc matmul is a compiled
one-op program. Two figures: `graphc` calls the program's native entry through ctypes with
its argument array prepared once (~0.5 us per call, how compiled programs call the GEMM is
cheaper still), which is what the ratio compares with numpy's `a @ b` (~0.9 us per call);
`via Program` calls it through the runtime's `Program.__call__`, which adds ~3-5 us of
Python per call (argument checks, array addresses, output allocation) and dominates the
small products. numpy runs with OpenBLAS limited to the same thread count (threadpoolctl when
installed, else OPENBLAS_NUM_THREADS at start-up). OPENBLAS_CORETYPE slows a current numpy:
run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` (see the note printed below).

Run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_gemm.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine_line, median_s, table  # noqa: E402

# (label, M, N, K, transpose_a, transpose_b)
SHAPES = [("512^3", 512, 512, 512, False, False), ("1024^3", 1024, 1024, 1024, False, False),
          ("2048^3", 2048, 2048, 2048, False, False),
          ("fwd X@W1 128x784 @ 784x512", 128, 512, 784, False, False),
          ("fwd H@W2 128x512 @ 512x512", 128, 512, 512, False, False),
          ("fwd H@W3 128x512 @ 512x10", 128, 10, 512, False, False),
          ("bwd dH@W2^T 128x512 @ (512x512)^T", 128, 512, 512, False, True),
          ("bwd dY@W3^T 128x10 @ (512x10)^T", 128, 512, 10, False, True),
          ("bwd X^T@dH (128x784)^T @ 128x512", 784, 512, 128, True, False),
          ("bwd H^T@dY (128x512)^T @ 128x10", 512, 10, 128, True, False),
          ("inference 1x784 @ 784x512", 1, 512, 784, False, False)]


def _blas_limit(threads: int):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=threads, user_api="blas")


def _blas_kernel() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return ", ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                     for i in threadpool_info() if i.get("user_api") == "blas")


def build():
    from graphc_runtime import Library

    from graphc.codegen import build_library
    from graphc.ir import Graph, TensorType
    from graphc.ops import builders as b

    programs = {}
    for i, (_, m, n, k, ta, tb) in enumerate(SHAPES):
        g = Graph(f"mm{i}")
        a = g.input("a", TensorType((k, m) if ta else (m, k)))
        w = g.input("w", TensorType((n, k) if tb else (k, n)))
        g.outputs["c"] = b.matmul(a, w, transpose_a=ta, transpose_b=tb)
        programs[g.name] = g
    return Library.load(build_library(programs, tempfile.mkdtemp(prefix="bench-gemm-")))


def native_call(program, a: np.ndarray, w: np.ndarray):
    """The program's entry with its argument array as one Program call left it (a, w and the output).

    Reads the runtime's private call state: benchmark-only, to time the GEMM without the
    Python wrapper. The closure keeps the arrays the argument array points at alive; it is
    valid until the program is called again (which repoints the output slot).
    """
    out = program(a=a, w=w)["c"]
    frame = program._frames[-1]  # the call frame that call just returned to the pool
    fn, argv, workspace = program._fn, frame.argv, frame.ws_address

    def call() -> None:
        if fn(1, argv, workspace) != 0:
            raise RuntimeError(f"{program.name} failed")
        call.keep = (a, w, out, frame)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=0.2, help="time budget per measurement")
    args = parser.parse_args()
    from graphc_runtime import set_num_threads

    library = build()
    rng = np.random.default_rng(0)
    rows = []
    for i, (label, m, n, k, ta, tb) in enumerate(SHAPES):
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
        w = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
        program = library.programs[f"mm{i}"]
        flops = 2.0 * m * n * k
        repeats = max(5, int(args.seconds * 50e9 / flops))
        cells = [label]
        for threads in args.threads:
            set_num_threads(threads)
            ours = flops / median_s(native_call(program, a, w), repeats) / 1e9
            wrapped = flops / median_s(lambda: program(a=a, w=w), repeats) / 1e9  # noqa: B023
            limit = _blas_limit(threads)
            lhs, rhs = (a.T if ta else a), (w.T if tb else w)
            theirs = flops / median_s(lambda: lhs @ rhs, repeats) / 1e9  # noqa: B023
            if limit is not None:
                limit.unregister()
            cells += [f"{ours:.1f}", f"{theirs:.1f}", f"{100 * ours / theirs:.0f}%", f"{wrapped:.1f}"]
        rows.append(cells)
    header = ["shape (M x N x K)"]
    for threads in args.threads:
        header += [f"graphc {threads}T", f"numpy {threads}T", f"ratio {threads}T", f"via Program {threads}T"]
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    print(f"{machine_line()}; numpy {np.__version__} ({_blas_kernel()})"
          + (f"; OPENBLAS_CORETYPE={coretype} (slows numpy)" if coretype else ""))
    print(table(header, rows))


if __name__ == "__main__":
    main()
