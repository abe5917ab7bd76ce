"""What a plugin may import from benchbase, and that it is enough.

A plugin imports the public face (:mod:`benchbase`), the plugin author's kit (:mod:`benchbase.kit`), and the three
modules plugins imported before the public face existed (``benchbase.contract``, ``benchbase.hookspecs``,
``benchbase.errors``). Everything else is the core's own and moves as the core changes; a first-party plugin that
reached into it would break third parties copying it, so every import of every first-party plugin and of the
README's examples is checked here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import benchbase
import benchbase.contract
import benchbase.kit

REPO = Path(__file__).resolve().parents[1]
PUBLIC = {"benchbase", "benchbase.kit", "benchbase.contract", "benchbase.hookspecs", "benchbase.errors"}
#: Every first-party plugin's source, and the README's examples (tests/example_*, byte-equal to the guides).
PLUGIN_SOURCES = [
    *sorted((REPO / "plugins").glob("*/benchbase_*/**/*.py")),
    *sorted((REPO / "vendors").glob("*/benchbase_*/**/*.py")),
    *sorted((REPO / "tests").glob("example_*/**/*.py")),
]


def core_imports(path: Path) -> set[str]:
    """The ``benchbase`` modules a file imports, wherever the import stands (lazy imports inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        found |= {module for module in modules if module.split(".")[0] == "benchbase"}
    return found


def test_the_walk_sees_every_first_party_plugin() -> None:
    packages = {path.relative_to(REPO).parts[:3] for path in PLUGIN_SOURCES}
    for expected in ("plugins/cpm/benchbase_cpm", "vendors/cpu/benchbase_cpu", "vendors/nvidia/benchbase_nvidia",
                     "vendors/iluvatar/benchbase_iluvatar"):
        assert tuple(expected.split("/")) in packages


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda path: str(path.relative_to(REPO)))
def test_first_party_plugins_and_the_examples_import_only_the_public_surface(path: Path) -> None:
    private = core_imports(path) - PUBLIC
    assert not private, f"{path.relative_to(REPO)} imports core modules {sorted(private)}; use benchbase or benchbase.kit"


def test_the_public_face_exports_every_contract_type_the_hook_marker_and_the_error() -> None:
    assert set(benchbase.contract.__all__) - {"compact_cpu_list"} <= set(benchbase.__all__)
    for name in benchbase.__all__:
        assert getattr(benchbase, name) is not None
    assert benchbase.hookimpl is benchbase.contract.hookspecs.hookimpl
    assert benchbase.BenchbaseError is benchbase.errors.BenchbaseError


def test_the_modules_plugins_imported_before_the_public_face_still_give_the_same_objects() -> None:
    import benchbase.errors
    import benchbase.hookspecs

    assert benchbase.hookspecs.hookimpl is benchbase.hookimpl
    assert benchbase.contract.Vendor is benchbase.Vendor and benchbase.errors.BenchbaseError is benchbase.BenchbaseError


def test_every_kit_name_resolves() -> None:
    for name in benchbase.kit.__all__:
        assert getattr(benchbase.kit, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        benchbase.kit.nope  # noqa: B018 - the lookup itself is what is tested


def test_the_kit_loads_a_helper_without_importing_torch_unless_the_helper_needs_it() -> None:
    """A vendor that only needs topology must not make every command pay torch's import."""
    code = ("import sys; from benchbase.kit import host_binding, atomic_write, die_with_parent; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
