"""The figures of the steady window, recomputed from the raw files of real records (docs/records.md, "Timing
windows") and compared with their ``summary.json``: the JSON lines are read here with ``json``, not through
benchbase's readers, so a mistake in :mod:`benchbase.record.summary` cannot cancel itself out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def only_run(runs: Path, topology: str) -> Path:
    (run,) = [p for p in runs.iterdir() if p.is_dir() and f"-{topology}-" in p.name]
    return run


def windows_event(run: Path) -> dict[str, Any]:
    lines = (run / "events.jsonl").read_text().splitlines()
    return [event for event in map(json.loads, lines) if event["key"] == "windows"][-1]


@pytest.mark.parametrize("topology", ["1x1", "1x2"])
def test_p_train_p_core_and_the_warm_up_window_recomputed_from_events_match_the_summary(
    scale_runs: Path, topology: str
) -> None:
    run = only_run(scale_runs, topology)
    summary = json.loads((run / "summary.json").read_text())
    event = windows_event(run)
    value, meta = event["value"], event["metadata"]
    global_batch = summary["global_batch"]

    assert meta["warmup_steps"] == 2 and meta["warmup_samples"] == 2 * global_batch
    assert len(meta["warmup_intervals_ms"]) == 1 and meta["attempts_ms"] == [[meta["train_start_ms"],
                                                                              meta["train_end_ms"]]]
    assert summary["windows"]["warmup_s"] == value["warmup_s"] > 0
    assert summary["windows"]["train_s"] == value["train_s"] and summary["windows"]["core_s"] == value["core_s"]
    steady = summary["samples"] - meta["warmup_samples"]
    assert summary["throughput"]["p_train"] == pytest.approx(steady / value["train_s"], rel=1e-12)
    assert summary["throughput"]["p_core"] == pytest.approx(steady / value["core_s"], rel=1e-12)
    assert summary["throughput"]["p_whole"] == pytest.approx(summary["samples"] / value["whole_s"], rel=1e-12)
    parts = value["warmup_s"] + value["train_s"] + value["eval_s"] + value["checkpoint_s"]
    assert parts == pytest.approx(value["whole_s"], abs=1e-5)
