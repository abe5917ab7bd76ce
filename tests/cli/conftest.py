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
