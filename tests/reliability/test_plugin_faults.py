"""Broken third-party plugins, installed as real distributions into a folder of their own (not the shared venv).

A plugin whose hook raises, that registers the wrong kind of object, or that misspells a hook is listed by
``benchbase plugins`` with its error and skipped, and every other command keeps working. Two plugins claiming one
vendor name stop every command that would have to pick one, in one line naming both.
(A plugin failing at import is covered by tests/cli/test_third_party_plugins.py.)
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from reliability_support import Bench

HOOKIMPL = "from benchbase.hookspecs import hookimpl\n"

VENDOR_CLASS = """
    import torch
    from benchbase.contract import DeviceInfo, PrecisionPolicy, Vendor


    class HostVendor(Vendor):
        name = "{name}"
        description = "throwaway test vendor"

        def discover(self):
            return [DeviceInfo(index=0, model="host")]

        def setup_device(self, local_rank):
            return torch.device("cpu")

        def precision_policy(self, requested):
            return PrecisionPolicy(name="fp32", label="FP32", autocast_dtype=None, flops_dtype="fp32")
"""


def source(*parts: str) -> str:
    """A module's text from parts written at different indents."""
    return "\n\n".join(textwrap.dedent(part).strip("\n") for part in parts) + "\n"


PLUGINS = {
    "raises": source(HOOKIMPL, """
        @hookimpl
        def benchbase_register_vendors(register):
            raise RuntimeError("licence server unreachable")
    """),
    "wrongtype": source(HOOKIMPL, """
        @hookimpl
        def benchbase_register_vendors(register):
            register({"name": "dict-vendor"})
    """),
    "misspelt": source(HOOKIMPL, VENDOR_CLASS.format(name="misspelt"), """
        @hookimpl
        def benchbase_register_vendor(register):
            register(HostVendor())
    """),
    "dupcpu": source(HOOKIMPL, VENDOR_CLASS.format(name="cpu"), """
        @hookimpl
        def benchbase_register_vendors(register):
            register(HostVendor())
    """),
}


def write_project(root: Path, short: str, body: str) -> Path:
    """A minimal distribution ``benchbase-test-<short>`` whose entry point names ``benchbase_test_<short>.plugin``."""
    project = root / short
    package = project / f"benchbase_test_{short}"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(body)
    (project / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "benchbase-test-{short}"
        version = "0.0.1"

        [project.entry-points.benchbase]
        test-{short} = "benchbase_test_{short}.plugin"

        [tool.setuptools]
        packages = ["benchbase_test_{short}"]
    """))
    return project


def install(site: Path, projects: list[Path]) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site),
         *map(str, projects)],
        check=True, capture_output=True, text=True,
    )
    return site


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``broken``: three plugins that fail in different ways. ``duplicate``: a second plugin registering 'cpu'."""
    root = tmp_path_factory.mktemp("plugin-projects")
    projects = {short: write_project(root, short, body) for short, body in PLUGINS.items()}
    return {
        "broken": install(tmp_path_factory.mktemp("site-broken"),
                          [projects["raises"], projects["wrongtype"], projects["misspelt"]]),
        "duplicate": install(tmp_path_factory.mktemp("site-duplicate"), [projects["dupcpu"]]),
    }


#: A terminal wide enough that no cell of the plugins table wraps, so each plugin is one line.
WIDE = "1000"


def plugin_row(stdout: str, name: str) -> str:
    return next(line for line in stdout.splitlines() if f"test-{name}" in line)


def test_plugins_lists_each_broken_plugin_with_its_own_error(bench: Bench, sites: dict[str, Path]) -> None:
    result = bench.run("plugins", PYTHONPATH=str(sites["broken"]), COLUMNS=WIDE)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "benchbase_register_vendors raised: RuntimeError: licence server unreachable" in plugin_row(out, "raises")
    assert "registered a dict; register an instance of benchbase.contract.Vendor" in plugin_row(out, "wrongtype")
    assert "benchbase_register_vendor is not a benchbase hook" in plugin_row(out, "misspelt")
    assert "vendor:cpu" in out and "case:cpm" in out, "the good plugins are still listed"


def test_broken_plugins_leave_every_other_command_working(bench: Bench, sites: dict[str, Path]) -> None:
    env = {"PYTHONPATH": str(sites["broken"])}
    listed = bench.run("list", **env)
    assert listed.returncode == 0, listed.stderr
    assert "misspelt" not in listed.stdout and "dict-vendor" not in listed.stdout, "nothing half-registered"
    dry = bench.run("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--dry-run", **env)
    assert dry.returncode == 0, dry.stderr


def test_a_vendor_of_a_skipped_plugin_is_unknown_in_one_line(bench: Bench, sites: dict[str, Path]) -> None:
    result = bench.run("run", "cpm", "--vendor", "misspelt", "--preset", "demo", PYTHONPATH=str(sites["broken"]))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: unknown vendor 'misspelt'")
    assert "plugin 'test-misspelt' (distribution benchbase-test-misspelt 0.0.1) could not be loaded" in line, (
        "the skipped plugin that may provide it is named with its error"
    )
    assert "benchbase_register_vendor is not a benchbase hook" in line and "pip install" not in line


def test_two_plugins_with_one_vendor_name_stop_the_run_in_one_line_naming_both(
    bench: Bench, sites: dict[str, Path]
) -> None:
    result = bench.run(
        "run", "cpm", "--vendor", "cpu", "--preset", "demo", "--dry-run", PYTHONPATH=str(sites["duplicate"])
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "vendor name 'cpu' is registered by two plugins" in errors[0]
    assert "'cpu'" in errors[0] and "test-dupcpu" in errors[0] and "uninstall one" in errors[0]
    assert "benchbase-test-dupcpu 0.0.1" in errors[0] and "benchbase-vendor-cpu" in errors[0], "both distributions"


def test_plugins_shows_the_name_conflict_instead_of_failing(bench: Bench, sites: dict[str, Path]) -> None:
    result = bench.run("plugins", PYTHONPATH=str(sites["duplicate"]))
    assert result.returncode == 0, result.stderr
    assert "conflict:" in result.stdout and "test-dupcpu" in result.stdout
