"""A chip maker's plugin is a separate distribution: built, installed, found through the entry point, and able to run
the demo. A plugin that raises on import is listed with its error while everything else keeps working, and is named
with that error when its vendor is asked for. A distribution claiming a first-party name (its entry point or its
vendor called ``cpu``) is refused by every command in one line naming both distributions, never silently used.

Every throwaway distribution is pip-installed into a folder of its own and put on ``PYTHONPATH`` of the commands
that should see it: the shared venv is never changed, so other tests (and other test sessions) are unaffected.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from subprocess import CompletedProcess

import pytest

TESTS = Path(__file__).resolve().parents[1]
Bench = Callable[..., CompletedProcess[str]]
#: A terminal wide enough that no cell of the plugins table wraps, so each plugin is one line.
WIDE = "1000"

IMPOSTOR_PLUGIN = """
    import torch
    from benchbase.contract import DeviceInfo, PrecisionPolicy, Vendor
    from benchbase.hookspecs import hookimpl


    class FakeCpu(Vendor):
        name = "cpu"
        description = "not the real cpu vendor"
        default_device_model = "FAKE-OFFICIAL"
        ranks_share_devices = True

        def discover(self):
            return [DeviceInfo(index=0, model="FAKE-OFFICIAL")]

        def setup_device(self, local_rank):
            return torch.device("cpu")

        def precision_policy(self, requested):
            return PrecisionPolicy(name="fp32", label="FP32", autocast_dtype=None, flops_dtype="fp32")


    @hookimpl
    def benchbase_register_vendors(register):
        register(FakeCpu())
"""


def write_distribution(root: Path, dist: str, dist_version: str, entry_point: str, body: str) -> Path:
    """A minimal distribution ``dist`` whose ``benchbase`` entry point ``entry_point`` loads ``body``."""
    package = dist.replace("-", "_")
    project = root / dist
    (project / package).mkdir(parents=True)
    (project / package / "__init__.py").write_text("")
    (project / package / "plugin.py").write_text(textwrap.dedent(body).lstrip())
    (project / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{dist}"
        version = "{dist_version}"

        [project.entry-points.benchbase]
        {entry_point} = "{package}.plugin"

        [tool.setuptools]
        packages = ["{package}"]
    """))
    return project


def pip_install(site: Path, *projects: Path) -> Path:
    """Install into ``site`` (``--target``), which the commands under test get as ``PYTHONPATH``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site),
         *map(str, projects)],
        check=True,
        capture_output=True,
        text=True,
    )
    return site


@pytest.fixture(scope="module")
def impostor_sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``entry_point``: a distribution whose entry point is named ``cpu`` and which registers a vendor ``cpu``.
    ``vendor_name``: one registering a vendor ``cpu`` under an entry point of another name."""
    root = tmp_path_factory.mktemp("impostor-projects")
    return {
        "entry_point": pip_install(
            tmp_path_factory.mktemp("site-impostor"),
            write_distribution(root, "benchbase-impostor-cpu", "6.6.6", "cpu", IMPOSTOR_PLUGIN),
        ),
        "vendor_name": pip_install(
            tmp_path_factory.mktemp("site-twin"),
            write_distribution(root, "benchbase-twin-vendor", "7.7.7", "twin", IMPOSTOR_PLUGIN),
        ),
    }


def error_lines(result: CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and install the example vendor as plugins were written before the public face (tests/example_vendor_v0)
    and the broken plugin into their own folder (not the shared venv)."""
    site = tmp_path_factory.mktemp("site")
    for project in ("example_vendor_v0", "broken_plugin"):
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
             str(site), str(TESTS / project)],
            check=True,
            capture_output=True,
            text=True,
        )
    assert (site / "benchbase_vendor_acme-1.2.3.dist-info").is_dir()
    return site


def test_installed_vendor_and_broken_plugin_are_listed_with_versions_and_errors(
    bench: Bench, plugin_site: Path
) -> None:
    result = bench("plugins", PYTHONPATH=str(plugin_site))
    assert result.returncode == 0, result.stderr
    acme = next(line for line in result.stdout.splitlines() if "benchbase-vendor-acme" in line)
    assert "1.2.3" in acme and "vendor:acme" in acme and "ok" in acme
    broken = next(line for line in result.stdout.splitlines() if line.lstrip("│ ").startswith("broken"))
    assert "failed to import" in result.stdout and "libacme.so" in result.stdout, broken
    for first_party in ("case:cpm", "vendor:cpu", "vendor:nvidia", "vendor:iluvatar"):
        assert first_party in result.stdout


def test_installed_vendor_appears_in_list(bench: Bench, plugin_site: Path) -> None:
    result = bench("list", PYTHONPATH=str(plugin_site))
    assert result.returncode == 0, result.stderr
    assert "acme" in result.stdout and "ACME A1" in result.stdout


def test_third_party_vendor_runs_the_demo_despite_a_broken_plugin(
    bench: Bench, plugin_site: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    result = bench(
        "run", "cpm", "--vendor", "acme", "--preset", "demo", "--set", "max_steps=6", "--set", "log_interval=2",
        "--out", str(runs), PYTHONPATH=str(plugin_site),
    )
    assert result.returncode in (0, 3), result.stdout + result.stderr
    summary = json.loads(next(runs.iterdir()).joinpath("summary.json").read_text())
    assert summary["vendor"] == "acme" and summary["sdk"] == "ACME SDK 1.2.3" and summary["steps"] == 6
    assert "ACME SDK 1.2.3, bs:16, 1x, FP32" in result.stdout
    env = json.loads(next(runs.iterdir()).joinpath("env.json").read_text())
    assert env["plugins"]["vendor"]["distribution"] == "benchbase-vendor-acme"
    assert env["plugins"]["vendor"]["version"] == "1.2.3"


def test_plugins_shows_the_distribution_and_version_behind_every_case_and_vendor(bench: Bench) -> None:
    result = bench("plugins", COLUMNS=WIDE)
    assert result.returncode == 0, result.stderr
    rows = {
        tuple(cell.strip() for cell in line.strip("│ ").split("│")[:2]): line
        for line in result.stdout.splitlines()
        if line.count("│") >= 5
    }
    cpm, cpu = rows[("case", "cpm")], rows[("vendor", "cpu")]
    assert "benchbase-cpm" in cpm and version("benchbase-cpm") in cpm
    assert "benchbase-vendor-cpu" in cpu and version("benchbase-vendor-cpu") in cpu


def test_a_distribution_whose_entry_point_is_named_cpu_stops_every_command_naming_both(
    bench: Bench, impostor_sites: dict[str, Path], tmp_path: Path
) -> None:
    env = {"PYTHONPATH": str(impostor_sites["entry_point"])}
    runs = tmp_path / "runs"
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--out", str(runs), **env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = error_lines(result)
    assert "entry point name 'cpu'" in line
    assert f"benchbase-vendor-cpu {version('benchbase-vendor-cpu')}" in line and "benchbase-impostor-cpu 6.6.6" in line
    assert "pip uninstall benchbase-impostor-cpu" in line
    assert not runs.exists(), "nothing ran, so nothing was recorded as official"
    for command in (["list"], ["env"], ["env", "--vendor", "cpu"], ["prepare", "cpm", "--preset", "demo"]):
        other = bench(*command, **env)
        assert other.returncode == 2 and error_lines(other) == [line], (command, other.stdout + other.stderr)


def test_plugins_lists_both_claimants_of_the_cpu_entry_point_and_the_conflict(
    bench: Bench, impostor_sites: dict[str, Path]
) -> None:
    result = bench("plugins", PYTHONPATH=str(impostor_sites["entry_point"]), COLUMNS=WIDE)
    assert result.returncode == 0, result.stderr
    claimants = [line for line in result.stdout.splitlines() if line.lstrip("│ ").startswith("cpu ")]
    assert len(claimants) == 2, result.stdout
    assert any("benchbase-vendor-cpu" in row for row in claimants)
    assert any("benchbase-impostor-cpu" in row and "6.6.6" in row for row in claimants)
    assert all("conflict" in row for row in claimants), "neither is shown as a plain ok"
    assert "conflict: entry point name 'cpu'" in result.stdout
    assert "conflict: vendor name 'cpu' is registered by two plugins" in result.stdout


def test_a_vendor_named_cpu_under_another_entry_point_is_refused_naming_both_distributions(
    bench: Bench, impostor_sites: dict[str, Path]
) -> None:
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--dry-run",
                   PYTHONPATH=str(impostor_sites["vendor_name"]))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stdout + result.stderr
    (line,) = error_lines(result)
    assert "vendor name 'cpu' is registered by two plugins" in line
    assert "benchbase-vendor-cpu" in line and "benchbase-twin-vendor 7.7.7" in line


def test_a_vendor_whose_plugin_failed_to_import_is_reported_with_its_error(bench: Bench, plugin_site: Path) -> None:
    result = bench("run", "cpm", "--vendor", "broken", "--preset", "demo", PYTHONPATH=str(plugin_site))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stdout + result.stderr
    (line,) = error_lines(result)
    assert line.startswith(
        "error: plugin 'broken' (distribution benchbase-broken-example 0.0.1) failed to import: "
        "ImportError: benchbase_broken needs libacme.so, which is not installed"
    ), line
    assert "pip install" not in line and "not installed)" not in line
    unknown = bench("run", "cpm", "--vendor", "nope", "--preset", "demo", PYTHONPATH=str(plugin_site))
    (line,) = error_lines(unknown)
    assert unknown.returncode == 2 and line.startswith("error: unknown vendor 'nope'")
    assert "plugin 'broken' (distribution benchbase-broken-example 0.0.1) failed to import: ImportError" in line


def test_env_json_of_a_demo_run_names_the_case_and_vendor_distributions(bench: Bench, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = bench("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "max_steps=2",
                   "--set", "log_interval=1", "--out", str(runs))
    assert result.returncode in (0, 3), result.stdout + result.stderr
    env = json.loads(next(runs.iterdir()).joinpath("env.json").read_text())
    case, vendor = env["plugins"]["case"], env["plugins"]["vendor"]
    assert (case["name"], case["distribution"], case["version"]) == ("cpm", "benchbase-cpm", version("benchbase-cpm"))
    assert (vendor["name"], vendor["distribution"], vendor["version"]) == (
        "cpu", "benchbase-vendor-cpu", version("benchbase-vendor-cpu")
    )
    assert case["entry_point"] == "cpm" and vendor["entry_point"] == "cpu"
    packages = env["host"]["packages"]
    assert packages["benchbase-cpm"] == version("benchbase-cpm") and packages["torch"]
    assert env["host"]["plugin_distributions"]["benchbase-vendor-cpu"] == version("benchbase-vendor-cpu")
