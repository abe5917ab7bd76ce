"""The example third-party case (tests/example_case, the README's "Writing a case") is trained by the core like CPM:
one rank accumulating two micro-batches and two ranks with one each see the same samples at every step, so they log
the same loss and score the same accuracy, step by step.

The case is pip-installed into a folder of its own on ``PYTHONPATH`` (as in test_third_party_plugins.py), so the shared
venv is never changed; removing the folder uninstalls it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchbase.record.events import read_events
from conftest import run_benchbase

EXAMPLE_CASE = Path(__file__).resolve().parents[1] / "example_case"
COMMON = ["run", "spirals", "--vendor", "cpu", "--set", "max_steps=20", "--set", "log_interval=1"]


def pip_install(site: Path, project: Path) -> None:
    """Install ``project`` into ``site`` the way a user's ``pip install`` would, without touching the venv."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site),
         str(project)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def case_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example case installed from a copy of its folder (pip builds in place, so the source tree stays clean)."""
    source = tmp_path_factory.mktemp("example-case-src") / "example_case"
    shutil.copytree(EXAMPLE_CASE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp_path_factory.mktemp("example-case-site")
    pip_install(site, source)
    yield site
    shutil.rmtree(site, ignore_errors=True)


def curves(runs: Path) -> tuple[list[float], list[float]]:
    (run,) = runs.iterdir()
    events = read_events(run / "events.jsonl")
    return [e["value"] for e in events if e["key"] == "step"], [e["value"] for e in events if e["key"] == "eval"]


def test_accumulation_on_one_rank_matches_two_ranks_step_by_step(
    case_site: Path, cache_dir: Path, tmp_path: Path
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    env = {"PYTHONPATH": str(case_site)}
    first = run_benchbase([*COMMON, "--config", "1x1", "--set", "grad_accum=2", "--out", str(one)], cache_dir,
                          tmp_path, **env)
    second = run_benchbase([*COMMON, "--config", "1x2", "--out", str(two)], cache_dir, tmp_path, **env)
    assert first.returncode in (0, 3) and first.returncode == second.returncode, first.stdout + second.stdout
    (single, single_evals), (double, double_evals) = curves(one), curves(two)
    assert len(single) == len(double) == 20
    assert single == pytest.approx(double, rel=1e-5), "same global batches, same updates, same losses"
    assert single_evals == pytest.approx(double_evals, rel=1e-5), "and the same accuracy at every evaluation"
    assert single[-1] < single[0], "and it is training"
    verified = run_benchbase(["verify", str(one), str(two)], cache_dir, tmp_path, **env)
    assert verified.returncode == 0, "a third party's case's records prove their figures too: " + verified.stdout
