"""Verify on a long log (issue 22, point 2): one pass, a line at a time, the same findings as a whole-list reading.

A 4-hour run's ``events.jsonl`` holds a million step events; verify reads it once into what its checks need
(:mod:`benchbase.verify.log_digest`). The records here are synthetic records of the format docs/records.md defines
(written by the long-record benchmark's writer), tens of thousands of step events long, with faults put in by hand.
The findings about the log are compared with a reading of the whole log as a list, kept small here (each writer's
time order, samples = step x global batch), and with the exact words of the faults put in.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchbase.record import schema
from benchbase.registry.plugins import load_checked_registry
from benchbase.verify.findings import Finding
from benchbase.verify.record import verify_run
from benchmarks.long_record import GLOBAL_BATCH, Shape, write_long_record

#: An evaluation every 500 steps, a step event every step: the synthetic record's own cadence, now checked.
EVAL_EVERY = 500


def long_record(folder: Path, steps: int) -> Path:
    """A synthetic record of ``steps`` step events (a few minutes of 2 devices: few telemetry rows), its config
    naming the step and evaluation cadence so that every check of the log runs."""
    write_long_record(folder, Shape(0.05, 2, steps, evals=steps // EVAL_EVERY))
    config = yaml.safe_load((folder / schema.CONFIG_FILE).read_text(encoding="utf-8"))
    config["values"].update(log_interval=1, eval_interval_samples=EVAL_EVERY * GLOBAL_BATCH)
    (folder / schema.CONFIG_FILE).write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


def read_whole(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / schema.EVENTS_FILE).read_text(encoding="utf-8").splitlines()]


def write_whole(folder: Path, events: list[dict[str, Any]]) -> None:
    (folder / schema.EVENTS_FILE).write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")


def whole_list_findings(events: list[dict[str, Any]]) -> list[str]:
    """The order and counting findings of the log held as one list, as verify worded them before it streamed."""
    found, latest = [], {}
    for number, event in enumerate(events, 1):
        if event["rank"] in latest and event["time_ms"] < latest[event["rank"]][0]:
            found.append(f"event {number} ({event['key']}) is stamped {latest[event['rank']][0] - event['time_ms']:.0f}"
                         f" ms before event {latest[event['rank']][1]} of the same writer")
        latest[event["rank"]] = (event["time_ms"], number)
    batch = [event for event in events if event["key"] == "run_start"][-1]["metadata"]["global_batch"]
    return found + [f"event {number} ({event['key']}) counts {event['samples']} samples at step {event['step']}, "
                    f"not {event['step']} x {batch}" for number, event in enumerate(events, 1)
                    if event["step"] is not None and event["samples"] is not None
                    and event["samples"] != event["step"] * batch]


def log_findings(folder: Path) -> list[str]:
    verdict = verify_run(folder, load_checked_registry().case)
    return [finding.problem for finding in verdict.findings if finding.subject == schema.EVENTS_FILE]


def at_step(events: list[dict[str, Any]], key: str, step: int) -> int:
    return next(index for index, event in enumerate(events) if event["key"] == key and event["step"] == step)


def test_a_long_log_with_faults_gets_the_findings_of_a_whole_list_reading(tmp_path: Path) -> None:
    record = long_record(tmp_path / "run-long", 20_000)
    events = read_whole(record)
    del events[at_step(events, "step", 5_000)]
    events[at_step(events, "step", 7_000)]["samples"] += 1
    events[at_step(events, "step", 9_000)]["time_ms"] -= 50_000
    write_whole(record, events)

    assert log_findings(record) == [
        *whole_list_findings(events),
        "attempt 1: no step event at step 5000 (one is written every 1 steps)",
        # The synthetic loop never evaluates at step 0, as the real one does.
        f"attempt 1: no evaluation at step 0 (one every {EVAL_EVERY} steps and one at the end)",
    ]
    assert any("(step) counts 448001 samples at step 7000" in problem for problem in log_findings(record))


def test_a_global_batch_changed_by_a_later_run_start_recounts_every_event(tmp_path: Path) -> None:
    record = long_record(tmp_path / "run-long", 2_000)
    events = read_whole(record)
    restart = json.loads(json.dumps(events[at_step(events, "run_start", None)]))
    restart["metadata"]["global_batch"] = GLOBAL_BATCH // 2
    write_whole(record, [*events, restart])

    counted = [problem for problem in log_findings(record) if " samples at step " in problem]
    assert counted == [problem for problem in whole_list_findings([*events, restart]) if " samples at " in problem]
    assert len(counted) == sum(1 for event in events if event["step"])  # every counting event past step 0


def test_a_resume_from_no_checkpoint_is_named_in_a_long_log(tmp_path: Path) -> None:
    record = tmp_path / "run-resumed"
    write_long_record(record, Shape(0.05, 2, 4_000, resumed=True))

    assert Finding(schema.EVENTS_FILE, "attempt 2 resumes at step 1000, where no earlier attempt saved a checkpoint") \
        in verify_run(record, load_checked_registry().case).findings


def peak_mib(folder: Path) -> float:
    verify_run(folder, load_checked_registry().case)  # imports and caches first: the peak is the reading's own
    tracemalloc.start()
    try:
        verify_run(folder, load_checked_registry().case)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_verify_holds_no_more_of_a_log_four_times_as_long(tmp_path: Path) -> None:
    short = peak_mib(long_record(tmp_path / "short" / "run-long", 20_000))
    long = peak_mib(long_record(tmp_path / "long" / "run-long", 80_000))

    assert long < 1.5 * short + 1, (short, long)


def test_an_event_whose_rank_is_a_list_is_a_writer_of_its_own_not_a_crash(tmp_path: Path) -> None:
    record = long_record(tmp_path / "run-long", 1_000)
    events = read_whole(record)
    odd = dict(events[at_step(events, "step", 500)], rank=[0], time_ms=0.0)
    write_whole(record, [*events, odd, dict(odd, time_ms=-5.0)])

    assert f"event {len(events) + 2} (step) is stamped 5 ms before event {len(events) + 1} of the same writer" \
        in log_findings(record)
