"""A long record is read in one streaming pass, and its figures are those of the whole files read naively.

The summary, the HTML report's series and the MLPerf export stream ``events.jsonl`` and ``telemetry.csv``
(benchmark 8 measures their memory and time). Here a smaller synthetic record of the same shape (several devices,
warm-ups, evaluations, two attempts) is read whole with the standard library, each figure is computed from those
lists the straightforward way, following docs/records.md, and the streaming results must equal them to 1e-9.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from benchbase.errors import BenchbaseError
from benchbase.export.mlperf import export_run
from benchbase.record import files
from benchbase.record.events import event_lines
from benchbase.record.files import RecordError
from benchbase.record.rundir import RunDir
from benchbase.record.summary import build_summary
from benchbase.report.downsample import CAPACITY, BoundedLine
from benchbase.report.loading import load_runs
from benchbase.report.series import read_series
from benchbase.verify.figures import supervisor_fields
from benchmarks.long_record import Shape, write_long_record

DEVICES = 3
#: 1,500 steps and about 1,900 rows per device: below a plotted line's capacity, so the series are kept whole.
SHAPE = Shape(hours=0.05, devices=DEVICES, steps=1_500, evals=12)


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("long")
    return {
        "resumed": write_long_record(root / "a" / "resumed", replace(SHAPE, resumed=True)),
        "single": write_long_record(root / "b" / "single", SHAPE),
    }


def naive_events(folder: Path) -> list[tuple[int, dict[str, Any]]]:
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").split("\n")
    return [(number, json.loads(line)) for number, line in enumerate(lines, 1) if line.strip()]


def naive_rows(folder: Path) -> list[dict[str, Any]]:
    with open(folder / "telemetry.csv", encoding="utf-8", newline="") as handle:
        return [{key: (float(value) if value else None) for key, value in row.items()} for row in csv.DictReader(handle)]


def last(events: list[tuple[int, dict[str, Any]]], key: str) -> dict[str, Any]:
    return [event for _, event in events if event["key"] == key][-1]


def steady(meta: dict[str, Any], time_ms: float) -> bool:
    """Inside an attempt and not strictly inside an evaluation or a warm-up (their ends count as steady time)."""
    cuts = [*meta["eval_intervals_ms"], *meta["warmup_intervals_ms"]]
    return (any(begin <= time_ms <= end for begin, end in meta["attempts_ms"])
            and not any(begin < time_ms < end for begin, end in cuts))


def steady_pieces(meta: dict[str, Any]) -> list[tuple[float, float]]:
    """The attempts less evaluations and warm-ups, as spans (the generator's cuts never touch each other)."""
    pieces = []
    cuts = sorted([*meta["eval_intervals_ms"], *meta["warmup_intervals_ms"]])
    for begin, end in meta["attempts_ms"]:
        cursor = begin
        for cut_begin, cut_end in cuts:
            if cut_end <= cursor or cut_begin >= end:
                continue
            if cut_begin > cursor:
                pieces.append((cursor, cut_begin))
            cursor = max(cursor, cut_end)
        if cursor < end:
            pieces.append((cursor, end))
    return pieces


def counter_at(readings: list[tuple[float, float]], time_ms: float) -> float:
    for (t0, e0), (t1, e1) in zip(readings, readings[1:]):
        if t0 <= time_ms <= t1:
            return e0 + (time_ms - t0) / (t1 - t0) * (e1 - e0)
    raise AssertionError(f"no counter reading around {time_ms}")


@pytest.mark.parametrize("name", ["resumed", "single"])
def test_the_streamed_summary_equals_the_figures_of_the_whole_files(records: dict[str, Path], name: str) -> None:
    folder = records[name]
    run_dir = RunDir(folder)
    summary = build_summary(run_dir, supervisor_fields(run_dir.read_summary()))
    events, rows = naive_events(folder), naive_rows(folder)
    windows = last(events, "windows")
    meta = windows["metadata"]
    devices = sorted({int(row["device"]) for row in rows})
    assert len(devices) == DEVICES and len(meta["attempts_ms"]) == (2 if name == "resumed" else 1)

    steady_samples = last(events, "train_stop")["samples"] - meta["warmup_samples"]
    per_device = {d: [row["power_w"] for row in rows if row["device"] == d and steady(meta, row["time_ms"])]
                  for d in devices}
    mean_w = sum(sum(values) / len(values) for values in per_device.values()) / DEVICES
    joules = []
    for device in devices:
        readings = sorted((row["time_ms"], row["energy_j"]) for row in rows if row["device"] == device)
        joules.append(sum(counter_at(readings, end) - counter_at(readings, begin)
                          for begin, end in steady_pieces(meta)))
    attempts_s = sum(end - begin for begin, end in meta["attempts_ms"]) / 1000
    rates, gaps = [], []
    for device in devices:
        stamps = sorted(row["time_ms"] for row in rows if row["device"] == device)
        inside = [t for t in stamps if any(begin <= t <= end for begin, end in meta["attempts_ms"])]
        rates.append(len(inside) / attempts_s)
        for begin, end in meta["attempts_ms"]:
            marks = [begin, *(t for t in inside if begin <= t <= end), end]
            gaps.append(max(later - earlier for earlier, later in zip(marks, marks[1:])) / 1000)

    evals = [event for _, event in events if event["key"] == "eval"]
    assert summary["steps"] == last(events, "train_stop")["step"]
    assert summary["final_metric"] == evals[-1]["value"] and summary["initial_metric"] == evals[0]["value"]
    assert summary["final_extras"] == evals[-1]["metadata"]["extras"]
    assert summary["throughput"]["p_train"] == pytest.approx(steady_samples / windows["value"]["train_s"], rel=1e-9)
    assert summary["power"] == {
        "mean_w_per_device": pytest.approx(mean_w, rel=1e-9),
        "energy_per_sample_j": pytest.approx(sum(joules) / DEVICES * DEVICES / steady_samples, rel=1e-9),
        "source": "telemetry",
        "energy_source": "counter",
        "samples_per_device": min(len(values) for values in per_device.values()),
        "too_few_samples": False,
    }
    assert summary["telemetry"] == {"interval_s": pytest.approx(0.1), "rows": len(rows),
                                    "achieved_hz": pytest.approx(min(rates), rel=1e-9),
                                    "longest_gap_s": pytest.approx(max(gaps), rel=1e-9),
                                    # no cpu_load.csv in this record, so no sampler counter to cost
                                    "sampler_cpu_s": None, "sampler_cpu_per_sample_ms": None}
    assert summary["memory"] == {"peak_gib_per_device": max(row["memory_used_gib"] for row in rows),
                                 "source": "telemetry"}
    assert summary["device_memory_total_gib"] == max(row["memory_total_gib"] for row in rows)


def test_the_html_series_hold_every_point_of_a_record_below_a_lines_capacity(records: dict[str, Path]) -> None:
    folder = records["resumed"]
    (run,) = load_runs([folder.parent]).runs
    series = read_series(run)
    events, rows = naive_events(folder), naive_rows(folder)
    t0 = min([*(event["time_ms"] for _, event in events), *(row["time_ms"] for row in rows)])
    steps = [event for _, event in events if event["key"] == "step"]
    evals = [event for _, event in events if event["key"] == "eval"]
    meta = last(events, "windows")["metadata"]

    assert series.loss == [(event["step"], event["value"]) for event in steps]
    assert series.samples_per_s == [(event["step"], event["metadata"]["samples_per_s"]) for event in steps]
    assert series.metric == [(event["step"], event["value"]) for event in evals]
    assert series.eval_steps == [event["step"] for event in evals]
    assert series.extras == {name: [(event["step"], event["metadata"]["extras"][name]) for event in evals]
                             for name in ("token_accuracy", "eval_loss")}
    assert series.train_window == ((meta["train_start_ms"] - t0) / 1000, (meta["train_end_ms"] - t0) / 1000)
    assert series.eval_intervals == [((begin - t0) / 1000, (end - t0) / 1000) for begin, end in meta["eval_intervals_ms"]]
    for column, plotted in (("power_w", series.power_w), ("memory_used_gib", series.memory_gib),
                            ("utilization_pct", series.utilization_pct)):
        assert plotted == {f"dev {d}": [((row["time_ms"] - t0) / 1000, row[column]) for row in rows
                                        if row["device"] == d] for d in range(DEVICES)}
    assert series.problems == [] and series.has_events and series.has_telemetry


def test_the_mlperf_export_reads_the_evaluations_and_the_train_window_of_the_whole_log(
    records: dict[str, Path],
) -> None:
    folder = records["single"]
    lines = export_run(folder)
    events = naive_events(folder)
    meta = last(events, "windows")["metadata"]
    evals = [(number, event) for number, event in events if event["key"] == "eval"]
    accuracy = [line for line in lines if line["key"] == "eval_accuracy"]
    assert [(line["value"], line["metadata"]["lineno"], line["metadata"]["samples_count"]) for line in accuracy] == [
        (event["value"], number, event["samples"]) for number, event in evals]
    (start,) = [line for line in lines if line["key"] == "run_start"]
    (stop,) = [line for line in lines if line["key"] == "run_stop"]
    assert start["time_ms"] == round(meta["train_start_ms"], 3)
    assert stop["time_ms"] == round(meta["train_end_ms"], 3)
    assert stop["metadata"]["status"] == "aborted"
    assert stop["metadata"]["samples_count"] == last(events, "train_stop")["samples"]
    trained_after = last(events, "train_stop")["samples"] > evals[-1][1]["samples"]
    assert [line["key"] for line in lines].count("block_start") == len(evals) - 1 + trained_after, (
        "a block between each two evaluations, and one after the last while training went on")


def test_a_resumed_long_record_is_still_refused_by_the_export(records: dict[str, Path]) -> None:
    with pytest.raises(BenchbaseError, match="was resumed from a checkpoint"):
        export_run(records["resumed"])


def test_a_log_past_its_line_bound_is_refused_before_any_event_is_read(
    records: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(files.MAX_LINES, "events.jsonl", 100)
    lines = event_lines(records["single"] / "events.jsonl")
    with pytest.raises(RecordError, match="more than 100 lines"):
        next(lines)


def test_a_long_line_keeps_at_most_its_capacity_with_each_buckets_extremes() -> None:
    line = BoundedLine(capacity=64)
    values = [(step, (step * 7919) % 1000 / 10) for step in range(100_000)]
    values[54_321] = (54_321, 1e6)  # a spike
    values[77_777] = (77_777, -1e6)  # and a dip
    for x, y in values:
        line.add(x, y)
    kept = line.points()
    assert len(kept) <= 64
    assert (54_321, 1e6) in kept and (77_777, -1e6) in kept
    assert kept == sorted(kept), "in x order"
    assert set(kept) <= set(values)


def test_a_line_below_its_capacity_keeps_every_point_in_order() -> None:
    line = BoundedLine()
    points = [(float(CAPACITY - i), float(i)) for i in range(CAPACITY)]
    for x, y in points:
        line.add(x, y)
    assert line.points() == points
