"""The time series behind the HTML plots, read from ``events.jsonl`` and ``telemetry.csv`` (docs/records.md).

Both files are append-only and may end in a torn line (a run killed mid-write), and people edit them; a line that
does not parse is skipped and counted, never fatal. They are read by the record layer (:mod:`benchbase.record.files`),
like every record file: a FIFO, a symlink or a file too large to be a record is one line under the plots. Each file is
read once, a line at a time, and the long lines are kept bounded (:mod:`benchbase.report.downsample`), so a 4-hour
record costs no more memory than a short one. Times become seconds since the record's clock starts: its first entry, the supervisor's ``launch`` event (telemetry starts just after it), so events and telemetry of every node
share one axis that begins at 0. Measuring from the worker's ``run_start`` instead put the rank's set-up, and the
memory it took, at negative times.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchbase.record.events import eval_extras, event_lines
from benchbase.record.files import RecordError, RecordMissing
from benchbase.record.schema import EVENTS_FILE, STEP_GRAD_NORM_KEY, TELEMETRY_FILE
from benchbase.record.telemetry_file import telemetry_lines
from benchbase.report.downsample import BoundedLine
from benchbase.report.run import Run

Points = list[tuple[float, float]]


@dataclass
class RunSeries:
    loss: Points = field(default_factory=list)
    samples_per_s: Points = field(default_factory=list)
    #: The gradient norm before clipping, from the step events of a recipe that clips: (step, norm).
    grad_norm: Points = field(default_factory=list)
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
    """Events of the main record and telemetry of every node of ``run``, each file read once, a line at a time: the
    long lines (loss, throughput, each device's readings) are kept bounded (:mod:`benchbase.report.downsample`)."""
    series = RunSeries()
    gathered = _Gathered()
    _read_events(run.path / EVENTS_FILE, series, gathered)
    for path in (run.path, *run.part_paths):
        _read_telemetry(path / TELEMETRY_FILE, series, gathered)
    gathered.fill(series)
    return series


class _Gathered:
    """What the plots need of the record, gathered as it is read; times stay epoch milliseconds until the record's
    clock start, the earliest of every timed event and row, is known."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self.loss, self.samples_per_s, self.grad_norm = BoundedLine(), BoundedLine(), BoundedLine()
        self.window_ms: tuple[float, float] | None = None
        self.eval_intervals_ms: list[tuple[float, float]] | None = None
        #: One line per (node, device) and quantity, in the order of each quantity's first reading.
        self.readings: tuple[dict[tuple[str, str], BoundedLine], ...] = ({}, {}, {})
        self.nodes: set[str] = set()

    def clock(self, time_ms: float) -> None:
        if self.t0 is None or time_ms < self.t0:
            self.t0 = time_ms

    def event(self, series: RunSeries, event: Mapping[str, Any]) -> None:
        key, value, step = event.get("key"), event.get("value"), event.get("step")
        if key == "step":  # most of a log: its tests written out, as in _number
            if type(step) not in _NUMBER_TYPES or not math.isfinite(step):
                return
            if type(value) in _NUMBER_TYPES and math.isfinite(value):
                self.loss.add(step, value)
            meta = event.get("metadata")
            if type(meta) is dict or isinstance(meta, Mapping):
                rate, norm = meta.get("samples_per_s"), meta.get(STEP_GRAD_NORM_KEY)
                if type(rate) in _NUMBER_TYPES and math.isfinite(rate):
                    self.samples_per_s.add(step, rate)
                if norm is not None and _number(norm):
                    self.grad_norm.add(step, norm)
            return
        meta = event.get("metadata") if isinstance(event.get("metadata"), Mapping) else {}
        if key == "eval" and _number(step):
            series.eval_steps.append(step)
            if _number(value):
                series.metric.append((step, value))
            for name, extra in eval_extras(meta).items():
                if _number(extra):
                    series.extras.setdefault(name, []).append((step, extra))
        elif key == "windows":
            start, end = meta.get("train_start_ms"), meta.get("train_end_ms")
            if _number(start) and _number(end):
                self.window_ms = (start, end)
            intervals = meta.get("eval_intervals_ms")
            if isinstance(intervals, list):
                self.eval_intervals_ms = [
                    (pair[0], pair[1])
                    for pair in intervals
                    if isinstance(pair, list) and len(pair) == 2 and all(map(_number, pair))
                ]

    def row(self, row: Mapping[str, Any]) -> None:
        where = (str(row["node"]), str(row["device"]))
        self.nodes.add(where[0])
        time_ms = row["time_ms"]
        for lines, column in zip(self.readings, _PLOTTED):
            value = row[column]
            if value is not None:
                line = lines.get(where)
                if line is None:
                    line = lines[where] = BoundedLine()
                line.add(time_ms, value)

    def fill(self, series: RunSeries) -> None:
        t0 = self.t0 or 0.0
        series.loss, series.samples_per_s = self.loss.points(), self.samples_per_s.points()
        series.grad_norm = self.grad_norm.points()
        if self.window_ms is not None:
            series.train_window = ((self.window_ms[0] - t0) / 1000, (self.window_ms[1] - t0) / 1000)
        if self.eval_intervals_ms is not None:
            series.eval_intervals = [((start - t0) / 1000, (end - t0) / 1000) for start, end in self.eval_intervals_ms]
        for target, lines in zip((series.power_w, series.memory_gib, series.utilization_pct), self.readings):
            for (node, device), line in lines.items():
                label = f"node {node} dev {device}" if len(self.nodes) > 1 else f"dev {device}"
                target[label] = [((time_ms - t0) / 1000, value) for time_ms, value in line.points()]


#: The telemetry columns plotted, in the order of :class:`RunSeries`' power, memory and utilisation.
_PLOTTED = ("power_w", "memory_used_gib", "utilization_pct")


def _read_events(path: Path, series: RunSeries, gathered: _Gathered) -> None:
    bad = 0
    try:
        for line in event_lines(path):
            event = line.event
            bad += line.problem is not None
            if event is None:
                continue
            if not _number(event.get("time_ms")):
                bad += 1
                continue
            gathered.clock(event["time_ms"])
            gathered.event(series, event)
    except RecordMissing:
        series.problems.append("no events.jsonl: no loss, metric or throughput curves")
        return
    except RecordError as err:
        series.problems.append(f"events.jsonl not read ({_reason(err, path)}): no loss, metric or throughput curves")
        return
    series.has_events = True
    if bad:
        series.problems.append(f"{bad} unreadable line(s) in events.jsonl skipped")


def _read_telemetry(path: Path, series: RunSeries, gathered: _Gathered) -> None:
    """Each row's time, node, device, power W, memory used GiB and utilisation % into ``gathered``."""
    where = f"{path.parent.name}/{TELEMETRY_FILE}"
    bad = 0
    try:
        for row in telemetry_lines(path):
            if row is None:
                bad += 1
                continue
            gathered.clock(row["time_ms"])
            gathered.row(row)
    except RecordMissing:
        series.problems.append(f"no telemetry.csv in {path.parent.name}: no power, memory or utilisation curves")
        return
    except RecordError as err:
        series.problems.append(f"{where} not read ({_reason(err, path)}): no power, memory or utilisation curves")
        return
    series.has_telemetry = True
    if bad:
        series.problems.append(f"{bad} unreadable row(s) in {where} skipped")


def _reason(err: RecordError, path: Path) -> str:
    """The record layer's one line, without the folder the plot already names."""
    return str(err).replace(str(path), path.name)


def _number(value: Any) -> bool:
    """A finite JSON number (a diverged run logs NaN losses; those cannot be drawn)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: The types a decoded JSON number has: ``type(x) in`` them is :func:`_number`'s type test for decoded values (a
#: bool's type is bool, not int), without its calls.
_NUMBER_TYPES = (int, float)
