"""The time series behind the HTML plots, read from ``events.jsonl`` and ``telemetry.csv`` (docs/records.md).

Both files are append-only and may end in a torn line (a run killed mid-write), and people edit them; a line that
does not parse is skipped and counted, never fatal. They are read by the record layer (:mod:`benchbase.record.files`),
like every record file: a FIFO, a symlink or a file too large to be a record is one line under the plots. Times become seconds since the record's clock starts: its first
entry, the supervisor's ``launch`` event (telemetry starts just after it), so events and telemetry of every node
share one axis that begins at 0. Measuring from the worker's ``run_start`` instead put the rank's set-up, and the
memory it took, at negative times.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchbase.record.events import eval_extras, read_events_checked
from benchbase.record.files import RecordError, RecordMissing
from benchbase.record.schema import EVENTS_FILE, TELEMETRY_FILE
from benchbase.record.telemetry_file import read_telemetry_checked
from benchbase.report.run import Run

Points = list[tuple[float, float]]


@dataclass
class RunSeries:
    loss: Points = field(default_factory=list)
    samples_per_s: Points = field(default_factory=list)
    metric: Points = field(default_factory=list)
    #: Each case extra of the eval events (e.g. a token accuracy), by name in the case's order: (step, value).
    extras: dict[str, Points] = field(default_factory=dict)
    eval_steps: list[float] = field(default_factory=list)
    #: Seconds since run start.
    train_window: tuple[float, float] | None = None
    eval_intervals: list[tuple[float, float]] = field(default_factory=list)
    #: Device label -> (seconds, value).
    power_w: dict[str, Points] = field(default_factory=dict)
    memory_gib: dict[str, Points] = field(default_factory=dict)
    utilization_pct: dict[str, Points] = field(default_factory=dict)
    #: Missing files and unreadable lines, shown under the plots.
    problems: list[str] = field(default_factory=list)
    has_events: bool = False
    has_telemetry: bool = False


def read_series(run: Run) -> RunSeries:
    """Events of the main record and telemetry of every node of ``run``."""
    series = RunSeries()
    events = list(_events(run.path / EVENTS_FILE, series))
    rows = [row for path in (run.path, *run.part_paths) for row in _telemetry(path / TELEMETRY_FILE, series)]
    t0 = min([*(e["time_ms"] for e in events), *(row[0] for row in rows)], default=None)
    _fill_events(series, events, t0 or 0.0)
    nodes = {row[1] for row in rows}
    for time_ms, node, device, *readings in rows:
        label = f"node {node} dev {device}" if len(nodes) > 1 else f"dev {device}"
        seconds = (time_ms - (t0 or 0.0)) / 1000
        for target, value in zip((series.power_w, series.memory_gib, series.utilization_pct), readings):
            if value is not None:
                target.setdefault(label, []).append((seconds, value))
    return series


def _fill_events(series: RunSeries, events: list[Mapping[str, Any]], t0: float) -> None:
    for event in events:
        key, value, step = event.get("key"), event.get("value"), event.get("step")
        meta = event.get("metadata") if isinstance(event.get("metadata"), Mapping) else {}
        if key == "step" and _number(step):
            if _number(value):
                series.loss.append((step, value))
            if _number(meta.get("samples_per_s")):
                series.samples_per_s.append((step, meta["samples_per_s"]))
        elif key == "eval" and _number(step):
            series.eval_steps.append(step)
            if _number(value):
                series.metric.append((step, value))
            for name, extra in eval_extras(meta).items():
                if _number(extra):
                    series.extras.setdefault(name, []).append((step, extra))
        elif key == "windows":
            start, end = meta.get("train_start_ms"), meta.get("train_end_ms")
            if _number(start) and _number(end):
                series.train_window = ((start - t0) / 1000, (end - t0) / 1000)
            intervals = meta.get("eval_intervals_ms")
            if isinstance(intervals, list):
                series.eval_intervals = [
                    ((pair[0] - t0) / 1000, (pair[1] - t0) / 1000)
                    for pair in intervals
                    if isinstance(pair, list) and len(pair) == 2 and all(map(_number, pair))
                ]


def _events(path: Path, series: RunSeries) -> Iterator[dict[str, Any]]:
    try:
        events, problems = read_events_checked(path)
    except RecordMissing:
        series.problems.append("no events.jsonl: no loss, metric or throughput curves")
        return
    except RecordError as err:
        series.problems.append(f"events.jsonl not read ({_reason(err, path)}): no loss, metric or throughput curves")
        return
    series.has_events = True
    timed = [event for event in events if _number(event.get("time_ms"))]
    bad = len(problems) + len(events) - len(timed)
    yield from timed
    if bad:
        series.problems.append(f"{bad} unreadable line(s) in events.jsonl skipped")


TelemetryRow = tuple[float, str, str, float | None, float | None, float | None]


def _telemetry(path: Path, series: RunSeries) -> Iterator[TelemetryRow]:
    """(time_ms, node, device, power W, memory used GiB, utilisation %) per row."""
    where = f"{path.parent.name}/{TELEMETRY_FILE}"
    try:
        rows, bad = read_telemetry_checked(path)
    except RecordMissing:
        series.problems.append(f"no telemetry.csv in {path.parent.name}: no power, memory or utilisation curves")
        return
    except RecordError as err:
        series.problems.append(f"{where} not read ({_reason(err, path)}): no power, memory or utilisation curves")
        return
    series.has_telemetry = True
    for row in rows:
        yield (row["time_ms"], str(row["node"]), str(row["device"]),
               row["power_w"], row["memory_used_gib"], row["utilization_pct"])
    if bad:
        series.problems.append(f"{bad} unreadable row(s) in {where} skipped")


def _reason(err: RecordError, path: Path) -> str:
    """The record layer's one line, without the folder the plot already names."""
    return str(err).replace(str(path), path.name)


def _number(value: Any) -> bool:
    """A finite JSON number (a diverged run logs NaN losses; those cannot be drawn)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
