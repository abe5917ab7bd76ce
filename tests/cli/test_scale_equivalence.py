"""The same global batch gives the same training whatever the split: one rank accumulating two micro-batches and two
ranks with one each see the same samples at every step and produce the same loss curve (fp32 tolerance)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchbase.record.events import read_events
from conftest import run_benchbase

COMMON = ["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "max_steps=8", "--set", "log_interval=1",
          "--set", "batch_size=8"]


def loss_curve(runs: Path) -> list[float]:
    run = next(runs.iterdir())
    return [e["value"] for e in read_events(run / "events.jsonl") if e["key"] == "step"]


def test_accumulation_on_one_rank_matches_two_ranks_step_by_step(cache_dir: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    first = run_benchbase([*COMMON, "--set", "grad_accum=2", "--config", "1x1", "--out", str(one)], cache_dir, tmp_path)
    second = run_benchbase([*COMMON, "--set", "grad_accum=1", "--config", "1x2", "--out", str(two)], cache_dir, tmp_path)
    assert first.returncode == 3 and second.returncode == 3, first.stdout + second.stdout
    single, double = loss_curve(one), loss_curve(two)
    assert len(single) == len(double) == 8
    assert single == pytest.approx(double, rel=2e-4), "same global batches, same updates, same losses"
    assert single[-1] < single[0], "and it is training"
