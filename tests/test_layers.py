"""The package's layers point one way (docs/architecture.md): each imports only those below it.

Every import counts, also inside functions and under TYPE_CHECKING: an import placed in a
function or behind TYPE_CHECKING to dodge a cycle is still an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Lowest first. `graphc` itself (its __init__: the version) is a leaf every layer may read.
LAYERS = ("ir", "ops", "interpreter", "passes", "codegen", "frontend", "data", "export", "build", "keras",
          "tf", "distribute", "commands", "cli")
RANK = {name: rank for rank, name in enumerate(LAYERS)}


def _modules(package: Path, prefix: str) -> dict[str, Path]:
    found = {}
    for file in package.rglob("*.py"):
        parts = file.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = file
    assert found, f"no modules under {package}"
    return {name: file for name, file in found.items() if name.startswith(prefix)}


def _imports(file: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


GRAPHC = _modules(ROOT / "graphc", "graphc")
RUNTIME = _modules(ROOT / "runtime" / "graphc_runtime", "graphc_runtime")


def _arrows() -> list[tuple[str, str]]:
    arrows = []
    for module, file in GRAPHC.items():
        for name in _imports(file):
            target = _resolve(name, GRAPHC) if name.split(".")[0] == "graphc" else None
            # A module's own packages run before it anyway: not an arrow.
            if target is not None and not f"{module}.".startswith(f"{target}."):
                arrows.append((module, target))
    return arrows


def test_every_package_of_graphc_has_a_layer() -> None:
    layers = {_layer(m) for m in GRAPHC if m != "graphc"}
    assert layers <= set(LAYERS), f"packages without a layer: {sorted(layers - set(LAYERS))}"


def _upward(arrows: list[tuple[str, str]]) -> list[str]:
    return sorted({f"{a} -> {b}" for a, b in arrows
                   if b != "graphc" and _layer(a) != _layer(b) and RANK[_layer(b)] > RANK[_layer(a)]})


def test_imports_point_down() -> None:
    upward = _upward(_arrows())
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_no_import_cycles_between_modules() -> None:
    graph = nx.DiGraph((a, b) for a, b in _arrows() if b != "graphc")
    cycles = [c for c in nx.simple_cycles(graph, length_bound=8) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles[:5]}"


@pytest.mark.parametrize("module", sorted(RUNTIME))
def test_runtime_imports_nothing_of_graphc(module: str) -> None:
    assert not [n for n in _imports(RUNTIME[module]) if n.split(".")[0] == "graphc"]


def test_an_upward_import_inside_a_function_is_found(tmp_path: Path) -> None:
    package = tmp_path / "graphc"
    (package / "ir").mkdir(parents=True)
    (package / "ops").mkdir()
    for init in (package, package / "ir", package / "ops"):
        (init / "__init__.py").write_text("")
    (package / "ops" / "registry.py").write_text("from graphc.ir.graph import Node\n")
    (package / "ir" / "graph.py").write_text("def f():\n    from graphc.ops.registry import get_op\n")
    modules = _modules(package, "graphc")
    arrows = [(m, t) for m, f in modules.items() for n in _imports(f) if (t := _resolve(n, modules))]
    assert _upward(arrows) == ["graphc.ir.graph -> graphc.ops.registry"]
