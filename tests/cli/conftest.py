"""Helpers for tests that drive the real ``benchbase`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_CPM = REPO.parent / "shared" / "cpm"


def benchbase_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "BENCHBASE_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    env.update(extra)
    return env


def run_benchbase(
    args: list[str], cache_dir: Path, cwd: Path, timeout: float = 600, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """``benchbase ARGS`` through the installed console entry point (``python -m`` equivalent)."""
    command = [sys.executable, "-c", "from benchbase.cli import main; main()", *args]
    return subprocess.run(
        command, cwd=cwd, env=benchbase_env(cache_dir, **extra_env), capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One prepared-data cache for the whole session: the demo corpus and tokenizer are built once."""
    return tmp_path_factory.mktemp("benchbase-cache")


@pytest.fixture
def bench(cache_dir: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def call(*args: str, timeout: float = 600, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return run_benchbase(list(args), cache_dir, tmp_path, timeout=timeout, **extra_env)

    return call


SHORT = ["--preset", "demo", "--set", "max_steps=12", "--set", "log_interval=2"]


@pytest.fixture(scope="session")
def scale_runs(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1x1 and a 1x2 demo run with the same per-device batch and a small step budget, recorded in one folder."""
    runs = tmp_path_factory.mktemp("scale-runs")
    for topology in ("1x1", "1x2"):
        result = run_benchbase(
            ["run", "cpm", "--vendor", "cpu", "--config", topology, *SHORT, "--out", str(runs)], cache_dir, runs
        )
        assert result.returncode in (0, 3), result.stdout + result.stderr
    return runs


def apt_install_or_skip(packages: tuple[str, ...]) -> None:
    """Install Debian's ``packages`` (as ``.ci/run`` does) for a test of real components that finds them missing;
    skip, saying why, only where that is impossible (not root, no registry)."""
    what = " and ".join(packages)
    if os.geteuid() != 0:
        pytest.skip(f"{what} are not installed and installing them needs root")
    apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        try:
            done = subprocess.run(command, env=apt, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as err:
            pytest.skip(f"cannot install {what}: {' '.join(command)} failed ({err})")
        if done.returncode != 0:
            pytest.skip(f"cannot install {what}: {' '.join(command)}: {done.stderr.strip()[-300:]}")
