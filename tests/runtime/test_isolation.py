"""graphc_runtime must import and run with numpy alone: no graphc, llvmlite, networkx or graphviz."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from graphc.codegen import build_library
from graphc.ir import Graph, TensorType

BLOCKED = ("graphc", "llvmlite", "networkx", "graphviz")

SCRIPT = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # makes any import of it raise ImportError
from graphc_runtime import Library, StateStore
library = Library.load(sys.argv[1])
import numpy as np
out = library.programs["double"](x=np.arange(4, dtype=np.float32).reshape(2, 2))["y"]
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r} and sys.modules[m] is not None)
print(out.sum(), loaded)
"""


def test_runtime_imports_and_runs_without_the_compiler(tmp_path) -> None:
    g = Graph("double")
    g.outputs["y"] = g.input("x", TensorType((None, 2))) * 2.0
    so = build_library({"double": g}, tmp_path)
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(blocked=BLOCKED), str(so)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(np.float32(12.0)), "[]"]
