"""The C header compiles and a C program can call a compiled library through it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from graphc.codegen import build_library
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b

INCLUDE = Path(__file__).resolve().parents[2] / "runtime" / "include"

MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include "graphc.h"

int32_t graphc_total(int64_t batch, void **args, void *workspace);

int main(void) {
    float x[6] = {1, 2, 3, 4, 5, 6}, total = -1.0f;
    void *args[2] = {x, &total};
    void *workspace = aligned_alloc(GRAPHC_WORKSPACE_ALIGN, 256);
    graphc_program_fn fn = graphc_total;
    if (fn(0, args, workspace) != GRAPHC_BAD_BATCH || total != -1.0f) return 2;
    if (fn(2, args, workspace) != GRAPHC_OK) return 3;
    printf("%g\n", total);
    free(workspace);
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_c_program_calls_a_compiled_library(tmp_path: Path) -> None:
    g = Graph("total")
    g.outputs["total"] = b.reduce_sum(g.input("x", TensorType((None, 3))))
    so = build_library({"total": g}, tmp_path, name="m")
    (tmp_path / "main.c").write_text(MAIN)
    exe = tmp_path / "main"
    command = ["cc", "-std=c11", "-Wall", "-Werror", f"-I{INCLUDE}", "-o", str(exe), str(tmp_path / "main.c"),
               str(so), f"-Wl,-rpath,{tmp_path}"]
    subprocess.run(command, check=True)
    done = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "21"
