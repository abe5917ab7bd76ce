"""The house's layering holds: no module imports a layer above its own, the contract knows no exporter, runner,
trainer or command line, and no import cycle exists (docs/architecture.md draws the layers).

The layers are import-linter contracts in pyproject.toml (``[tool.importlinter]``), checked here by import-linter
itself; the cycle check walks the same import graph (grimp's, which import-linter builds on). Both count every
import, lazy ones inside functions included, because a lazy import is still a dependency.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]


def import_cycles(package: str) -> list[list[str]]:
    """Groups of modules that import each other in a circle (strongly connected components of more than one)."""
    graph = grimp.build_graph(package)
    edges = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for imported in edges.get(module, ()):
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            component = stack[stack.index(module):]
            del stack[stack.index(module):]
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in order:
            visit(module)
    return cycles


def test_every_layer_imports_only_the_layers_below_it() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_the_core_has_no_import_cycle() -> None:
    assert import_cycles("benchbase") == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001 - pytest fixture
    package = tmp_path / "circle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from circle import b\n")
    (package / "b.py").write_text("def late():\n    from circle import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("circle") == [["circle.a", "circle.b"]]


def test_the_readme_layout_and_docs_architecture_name_every_concern_folder_and_layer() -> None:
    """The house is drawn in words twice (README's layout, docs/architecture.md); both must match the code."""
    import re
    import tomllib

    folders = {path.name for path in (REPO / "benchbase").iterdir() if (path / "__init__.py").is_file()}
    readme = (REPO / "README.md").read_text(encoding="utf-8").split("## Layout", 1)[1]
    assert set(re.findall(r"^  ([a-z_]+)/ ", readme, flags=re.M)) == folders
    layers = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
    drawn = re.findall(r"^\| ([^|]+) \|", (REPO / "docs" / "architecture.md").read_text(encoding="utf-8"), flags=re.M)
    named = [{name.strip("` /") for name in row.split(", ")} for row in drawn[1:]]
    coded = [{name.removeprefix("benchbase.") for name in layer.split(" | ")} for layer in layers]
    assert [{n.removesuffix(".py") for n in row} for row in named] == coded
