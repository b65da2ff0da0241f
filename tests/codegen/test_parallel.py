"""The native worker pool: thread-count API, identical results, and what a library links against."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from graphc_runtime import Library, get_num_threads, set_num_threads

from graphc.codegen import build_library
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b


def _mlp_step() -> Graph:
    g = Graph("step")
    x = g.input("x", TensorType((None, 300)))
    w1 = g.input("w1", TensorType((300, 260)))
    w2 = g.input("w2", TensorType((260, 10)))
    h = b.tanh(b.matmul(x, w1))
    g.outputs["y"] = b.matmul(h, w2)
    g.outputs["dw1"] = b.matmul(x, h, transpose_a=True)
    return g


def test_set_num_threads_validates_and_reads_back(restore_threads) -> None:
    set_num_threads(3)
    assert get_num_threads() == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="set_num_threads"):
            set_num_threads(bad)
    set_num_threads(None)
    assert get_num_threads() >= 1


def test_thread_count_reaches_the_native_pool(tmp_path, restore_threads) -> None:
    library = Library.load(build_library({"step": _mlp_step()}, tmp_path))
    set_num_threads(2)
    assert library._pool.get() == 2
    set_num_threads(1)
    assert library._pool.get() == 1


def test_results_identical_for_every_thread_count(tmp_path, restore_threads) -> None:
    program = Library.load(build_library({"step": _mlp_step()}, tmp_path)).programs["step"]
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((257, 300)).astype(np.float32),
             "w1": rng.standard_normal((300, 260)).astype(np.float32) * 0.1,
             "w2": rng.standard_normal((260, 10)).astype(np.float32)}
    runs = []
    for n in (1, 2, 3):
        set_num_threads(n)
        runs.append(program(**feeds))
    for other in runs[1:]:
        for key in runs[0]:
            np.testing.assert_array_equal(runs[0][key], other[key])
    h = np.tanh(feeds["x"].astype(np.float64) @ feeds["w1"])
    np.testing.assert_allclose(runs[0]["y"], h @ feeds["w2"], rtol=1e-4, atol=1e-4)


def test_environment_variable_sets_the_default(tmp_path) -> None:
    so = build_library({"step": _mlp_step()}, tmp_path)
    code = ("import sys; from graphc_runtime import Library, get_num_threads;"
            f"lib = Library.load({str(so)!r}); print(get_num_threads(), lib._pool.get())")
    env = {"GRAPHC_NUM_THREADS": "3", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == ["3", "3"]


@pytest.mark.skipif(shutil.which("readelf") is None or shutil.which("nm") is None, reason="needs binutils")
def test_library_needs_only_libc_and_no_libm(tmp_path) -> None:
    so = build_library({"step": _mlp_step()}, tmp_path, name="m")
    dynamic = subprocess.run(["readelf", "-d", str(so)], capture_output=True, text=True, check=True).stdout
    needed = {line.split("[")[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line}
    # glibc's own parts: thread-local storage comes from its dynamic loader.
    assert {n for n in needed if not n.startswith("ld-linux")} <= {"libc.so.6", "libpthread.so.0"}, needed
    parts = sorted(str(path) for path in tmp_path.glob("m_step*.o"))  # the program's objects call across
    undefined = subprocess.run(["nm", "-u", *parts], capture_output=True, text=True,
                               check=True).stdout.split()
    defined = subprocess.run(["nm", "--defined-only", "-j", *parts], capture_output=True, text=True,
                             check=True).stdout.split()
    names = {u for u in undefined if u != "U" and not u.endswith(":")} - set(defined)
    support = {"graphc_parallel_for", "graphc_scratch", "graphc_gemm_nn", "graphc_gemm_nt", "graphc_gemm_tn",
               "graphc_gemm_tt"}
    assert names <= support | {"memcpy", "memset", "memmove"}, names


SHUTDOWN = """
import ctypes, sys
import numpy as np
from graphc_runtime import Library, set_num_threads
set_num_threads(4)
program = Library.load(sys.argv[1]).programs["step"]
cdll = program._cdll
rng = np.random.default_rng(0)
feeds = {"x": rng.standard_normal((257, 300)).astype(np.float32),
         "w1": rng.standard_normal((300, 260)).astype(np.float32) * 0.1,
         "w2": rng.standard_normal((260, 10)).astype(np.float32)}
def workers():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads"))
alone = workers()
first = program(**feeds)["y"]
assert workers() > alone  # the pool's workers started
for _ in range(3):
    cdll.graphc_shutdown_pool()  # joins the workers; the next loop starts them again
    np.testing.assert_array_equal(program(**feeds)["y"], first)
cdll.graphc_shutdown_pool()
assert workers() == alone, (alone, workers())
del program, cdll
import gc; gc.collect()  # the library is unloaded: its code is gone from the address space
with open("/proc/self/maps") as maps:
    assert sys.argv[1] not in maps.read()
print("ok")
"""


def test_pool_shutdown_joins_workers_and_the_library_unloads(tmp_path) -> None:
    so = build_library({"step": _mlp_step()}, tmp_path)
    done = subprocess.run([sys.executable, "-c", SHUTDOWN, str(so)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
