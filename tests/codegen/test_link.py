"""Linking: the linker runs directly with the C compiler's own arguments, and the compiler is the fallback."""

from __future__ import annotations

import numpy as np
import pytest
from graphc_runtime import Library

from graphc.codegen import build_library, link
from graphc.codegen import cache as disk_cache
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b


@pytest.fixture
def fresh_linker(monkeypatch, tmp_path):
    """No cached command or past failure; the libraries linked here are not served from the cache."""
    monkeypatch.setenv(disk_cache.ENV, "off")
    command = link._linker_command  # a test may replace it: monkeypatch restores it after this teardown
    command.cache_clear()
    link._use_compiler.clear()
    yield
    command.cache_clear()
    link._use_compiler.clear()


def _graph() -> Graph:
    g = Graph("g")
    x = g.input("x", TensorType((None, 5)))
    w = g.input("w", TensorType((5, 3)))
    g.outputs["y"] = b.tanh(b.matmul(x, w))
    return g


def _check(library_path) -> None:
    x = np.linspace(-1, 1, 10, dtype=np.float32).reshape(2, 5)
    w = np.ones((5, 3), np.float32)
    y = Library.load(library_path).programs["g"](x=x, w=w)["y"]
    np.testing.assert_allclose(y, np.tanh(x @ w), rtol=1e-6)


def test_the_command_is_the_compilers_own_without_the_lto_plugin(fresh_linker) -> None:
    command = link._linker_command()
    assert command is not None, "this machine's cc prints its link command with -###"
    assert command[0].endswith(("ld", "ld.gold")) and link._OUT in command and link._IN in command
    assert "-shared" in command and not any(word.startswith("-plugin") for word in command)


def test_a_library_linked_directly_loads_and_runs(fresh_linker, tmp_path) -> None:
    _check(build_library({"g": _graph()}, tmp_path))
    assert not link._use_compiler.is_set()


def test_a_failing_direct_link_falls_back_to_the_compiler_for_good(fresh_linker, tmp_path, monkeypatch):
    monkeypatch.setattr(link, "_linker_command", lambda: ("false", link._OUT, link._IN))
    _check(build_library({"g": _graph()}, tmp_path / "first"))
    assert link._use_compiler.is_set()
    tools = []
    run_tool = link.run_tool
    monkeypatch.setattr(link, "run_tool", lambda command: tools.append(command[0]) or run_tool(command))
    _check(build_library({"g": _graph()}, tmp_path / "second"))
    assert tools == [link.c_compiler()]  # the rest of the process links with the compiler
