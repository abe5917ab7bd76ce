"""A resumed run records each attempt's train span: the idle gap between the attempts and the steps the first
attempt trained after its checkpoint (trained again by the second) lie in none of them.

Power, energy and contention are computed over these spans (docs/records.md, "Timing windows"), so a span that
held the gap would average an idle device into the run's power, and one that held the redone steps would count
their energy twice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_support import Bench

from benchbase.record.events import read_events


def inside(time_ms: float, spans: list[list[float]]) -> bool:
    return any(begin <= time_ms <= end for begin, end in spans)


def test_a_resumed_run_records_one_span_per_attempt_without_the_gap_or_the_redone_steps(
    bench: Bench, interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    run = copy_run(interrupted_run)
    resumed = bench.run("run", "cpm", "--vendor", "cpu", "--resume", str(run))
    assert resumed.returncode == 3, resumed.stdout + resumed.stderr
    events = read_events(run / "events.jsonl")
    resume_at = next(i for i, e in enumerate(events) if e["key"] == "resume")
    first: list[dict[str, Any]] = events[:resume_at]
    first_windows = [e for e in first if e["key"] == "windows"][-1]["metadata"]
    last = [e for e in events if e["key"] == "windows"][-1]
    meta = last["metadata"]

    (span_one, span_two) = meta["attempts_ms"]
    checkpoint = [e for e in first if e["key"] == "checkpoint"][-1]
    checkpointed_step = checkpoint["step"]
    assert span_one[0] == first_windows["train_start_ms"], "the first attempt's span starts where it trained"
    logged_at_checkpoint = next(e for e in first if e["key"] == "step" and e["step"] == checkpointed_step)
    assert logged_at_checkpoint["time_ms"] <= span_one[1] <= checkpoint["time_ms"], "it ends at the checkpoint"
    assert span_two == [meta["train_start_ms"], meta["train_end_ms"]], "train_start_ms is the last attempt's"
    assert events[resume_at]["time_ms"] < span_two[0], "the second attempt's span starts after the resume"

    redone = [e for e in first if e["key"] == "step" and e["step"] > checkpointed_step]
    assert not [e["step"] for e in redone if inside(e["time_ms"], meta["attempts_ms"])], "redone steps count once"
    assert not inside(first_windows["train_end_ms"], meta["attempts_ms"]), "the first attempt's end is in the gap"
    assert not inside(events[resume_at]["time_ms"], meta["attempts_ms"]), "the resume is in the gap"

    seconds = sum(end - begin for begin, end in meta["attempts_ms"]) / 1000
    assert last["value"]["whole_s"] == pytest.approx(seconds, abs=0.1), "whole_s is the spans' time, gap excluded"
    # Each attempt warms up again, and its warm-up starts with its span.
    warmups = meta["warmup_intervals_ms"]
    assert [w[0] for w in warmups] == [span_one[0], span_two[0]]
    global_batch = next(e for e in events if e["key"] == "run_start")["metadata"]["global_batch"]
    assert meta["warmup_samples"] == 2 * meta["warmup_steps"] * global_batch
