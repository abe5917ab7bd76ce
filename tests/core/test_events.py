"""The event log: the line format, safe concurrent appends, NaN visibility, and tolerant reading."""

from __future__ import annotations

import json
import math
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch

from benchbase.record.events import EventLog, read_events, read_events_checked
from benchbase.record.rundir import RecordError


def fixed_clock():
    return 1732780000.1234


def test_an_event_is_one_json_line_with_time_key_value_rank_step_samples_metadata(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path, rank=0, clock=fixed_clock) as log:
        returned = log.emit("eval", 0.8312, step=40, samples=2560, token_accuracy=0.41, loss=3.2)
    lines = path.read_text().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event == {
        "time_ms": pytest.approx(1732780000123.4),
        "key": "eval",
        "value": 0.8312,
        "rank": 0,
        "step": 40,
        "samples": 2560,
        "metadata": {"token_accuracy": 0.41, "loss": 3.2},
    }
    assert returned == event


def test_events_without_step_or_metadata_still_have_every_field(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path, rank=None, clock=fixed_clock) as log:
        log.emit("launch", "single")
    assert read_events(path) == [
        {"time_ms": pytest.approx(1732780000123.4), "key": "launch", "value": "single", "rank": None, "step": None,
         "samples": None, "metadata": {}}
    ]


def test_tensors_and_numpy_values_are_written_as_plain_numbers(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path, rank=0) as log:
        log.emit(
            "step",
            torch.tensor(2.5, requires_grad=True).detach(),
            step=torch.tensor(7),
            samples=np.int64(112),
            lr=np.float32(0.5),
            scale=torch.tensor(65536.0, dtype=torch.bfloat16),
            peaks=np.array([1.0, 2.0]),
            ok=np.bool_(True),
            where=tmp_path,
        )
    (event,) = read_events(path)
    assert event["value"] == 2.5
    assert event["step"] == 7 and event["samples"] == 112
    assert event["metadata"] == {"lr": 0.5, "scale": 65536.0, "peaks": [1.0, 2.0], "ok": True, "where": str(tmp_path)}


def test_an_unserialisable_value_is_a_programming_error_naming_the_event(tmp_path):
    with EventLog(tmp_path / "events.jsonl", rank=0) as log, pytest.raises(TypeError, match="event 'swap': what"):
        log.emit("swap", what=object())


def test_a_diverged_nan_loss_stays_visible_in_strict_json(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path, rank=0) as log:
        returned = log.emit("step", float("nan"), step=3, loss_scale=float("inf"))
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    raw = json.loads(text)
    assert raw["value"] is None
    assert raw["nonfinite"] == {"/value": "nan", "/metadata/loss_scale": "inf"}
    (event,) = read_events(path)
    assert math.isnan(event["value"]) and event["metadata"]["loss_scale"] == math.inf
    assert "nonfinite" not in event
    assert math.isnan(returned["value"])


def test_a_torn_last_line_is_ignored_and_reported(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path, rank=0) as log:
        log.emit("run_start", "r1")
        log.emit("step", 1.0, step=1)
    with open(path, "a") as handle:
        handle.write('{"time_ms": 1, "key": "st')
    events, problems = read_events_checked(path)
    assert [e["key"] for e in events] == ["run_start", "step"]
    assert problems == [f"{path} line 3: torn last line ignored (the writer stopped mid-line)"]


def test_a_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"key": "a", "value": 1}\n{"key": "b", "value": 2}')
    assert [e["key"] for e in read_events(path)] == ["a", "b"]


def test_damaged_lines_in_the_middle_are_skipped_and_counted(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"key": "a"}\ngarbage\n\n[1, 2]\n{"key": "b"}\n{"no_key": 1}\n')
    events, problems = read_events_checked(path)
    assert [e["key"] for e in events] == ["a", "b"]
    assert problems == [
        f"{path} line 2: not JSON, skipped",
        f"{path} line 4: not an event object with a 'key', skipped",
        f"{path} line 6: not an event object with a 'key', skipped",
    ]


def test_reopening_after_a_crash_does_not_glue_the_next_event_onto_the_torn_line(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"key": "a"}\n{"key": "tor')
    with EventLog(path, rank=0) as log:
        log.emit("resume", "checkpoint/state.pt", step=10)
    events, problems = read_events_checked(path)
    assert [e["key"] for e in events] == ["a", "resume"]
    assert problems == [f"{path} line 2: not JSON, skipped"]


def test_a_missing_event_log_is_a_record_error(tmp_path):
    with pytest.raises(RecordError, match="events.jsonl is missing"):
        read_events(tmp_path / "events.jsonl")


def test_emitting_after_close_is_an_error(tmp_path):
    log = EventLog(tmp_path / "events.jsonl", rank=0)
    log.close()
    log.close()
    with pytest.raises(ValueError, match="closed"):
        log.emit("x")


def _append_many(path: str, rank: int, count: int) -> None:
    with EventLog(Path(path), rank=rank) as log:
        for index in range(count):
            log.emit("step", float(index), step=index, padding="x" * 2000)


def test_two_processes_appending_at_once_never_interleave_within_a_line(tmp_path):
    """A rank and the supervisor share the file; 2 kB lines would show torn or interleaved writes if they happened."""
    path = tmp_path / "events.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(path), rank, 300)) for rank in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    events, problems = read_events_checked(path)
    assert problems == []
    for rank in (0, 1):
        assert [e["step"] for e in events if e["rank"] == rank] == list(range(300))
