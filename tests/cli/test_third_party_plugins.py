"""A chip maker's plugin is a separate distribution: built, installed, found through the entry point, and able to run
the demo. A plugin that raises on import is listed with its error while everything else keeps working."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

TESTS = Path(__file__).resolve().parents[1]
Bench = Callable[..., CompletedProcess[str]]


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and install the example vendor and the broken plugin into their own folder (not the shared venv)."""
    site = tmp_path_factory.mktemp("site")
    for project in ("example_vendor", "broken_plugin"):
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
