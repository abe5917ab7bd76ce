"""Fixtures of the reliability tests: one warm prepared-data cache, and real records to copy, damage or resume."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from reliability_support import Bench, interrupted_after_first_checkpoint


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo corpus and tokenizer, prepared once per session so every run below starts warm."""
    cache = tmp_path_factory.mktemp("reliability-cache")
    result = Bench(cache, cache).run("prepare", "cpm", "--preset", "demo")
    assert result.returncode == 0, result.stderr
    return cache


@pytest.fixture
def bench(demo_cache: Path, tmp_path: Path) -> Iterator[Bench]:
    """Runs benchbase from this test's folder; runs the test started and left alive (a failed assertion) are killed."""
    runner = Bench(demo_cache, tmp_path)
    yield runner
    runner.kill_leftovers()


@pytest.fixture(scope="session")
def finished_run(demo_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, complete record of a short demo run: the "earlier record" that bad inputs must leave untouched."""
    out = tmp_path_factory.mktemp("finished")
    result = Bench(demo_cache, out).run(
        "run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "max_steps=4", "--set", "log_interval=1",
        "--out", str(out / "runs"),
    )
    assert result.returncode in (0, 3), result.stdout + result.stderr
    (run,) = (out / "runs").iterdir()
    return run


@pytest.fixture(scope="session")
def interrupted_run(demo_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo run stopped by SIGINT after its first checkpoint: what ``--resume`` continues. Copy it before use."""
    return interrupted_after_first_checkpoint(demo_cache, tmp_path_factory.mktemp("interrupted"))


@pytest.fixture
def copy_run(tmp_path: Path) -> Callable[[Path], Path]:
    """Copy a session record into this test's folder (``runs/<same id>``) so the test may damage or resume it."""

    def copy(run: Path) -> Path:
        target = tmp_path / "runs" / run.name
        shutil.copytree(run, target)
        return target

    return copy
