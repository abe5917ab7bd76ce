"""The points a tracker receives from one run, read from its record a line at a time (a 4-hour run logs a million
step events; none is held): rank 0's step losses and throughputs, each evaluation's metric and case extras, every
device's telemetry, and the summary's figures. Only finite numbers are points: a tracker plots a NaN loss as nothing
at best, and the record keeps it anyway."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from benchbase.record.events import eval_extras, event_lines
from benchbase.record.files import RecordMissing
from benchbase.record.schema import EVENTS_FILE, TELEMETRY_FILE, report_means
from benchbase.record.telemetry_file import telemetry_lines
from benchbase.report.run import Run

#: What a tag part taken from the record may hold; anything else becomes ``_``. MLflow's file store keeps each metric
#: as a file named by its tag, so a case extra named ``../x`` must not become a path.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

#: The telemetry columns exported, each a series per device.
TELEMETRY_SERIES = ("power_w", "memory_used_gib", "utilization_pct", "rss_gib")


@dataclass(frozen=True)
class Scalar:
    #: ``train/loss``, ``eval/embedding_average``, ``telemetry/power_w/node0_dev0``, ``figures/p_train``.
    tag: str
    value: float
    #: The training step (telemetry: the device's sample number; figures: the run's last step).
    step: int
    #: Seconds since the epoch when the value was recorded (figures: when the run ended).
    time_s: float


def series(run: Run) -> Iterator[Scalar]:
    """The run's time series in record order: its events, then each node's telemetry."""
    yield from _event_points(run)
    for path in (run.path, *run.part_paths):
        yield from _telemetry_points(path / TELEMETRY_FILE)


def figures(run: Run, time_s: float) -> Iterator[Scalar]:
    """The summary's figures (the numbers a report row averages over repeats), each at the run's last step."""
    step = run.values.get("steps")
    step = step if isinstance(step, int) else 0
    for name in report_means():
        value = run.values.get(name)
        if _finite(value):
            yield Scalar(f"figures/{name}", float(value), step, time_s)


def _event_points(run: Run) -> Iterator[Scalar]:
    metric_tag = f"eval/{tag_part(str(run.values.get('metric_name') or 'metric'))}"
    try:
        for line in event_lines(run.path / EVENTS_FILE):
            event = line.event
            if event is None or line.problem is not None or event.get("rank") != 0:
                continue
            step, time_ms = event.get("step"), event.get("time_ms")
            if not isinstance(step, int) or isinstance(step, bool) or not _finite(time_ms):
                continue
            meta = event.get("metadata") if isinstance(event.get("metadata"), Mapping) else {}
            if event.get("key") == "step":
                yield from _points(time_ms, step, (("train/loss", event.get("value")),
                                                   ("train/samples_per_s", meta.get("samples_per_s"))))
            elif event.get("key") == "eval":
                named = [(metric_tag, event.get("value"))]
                named += [(f"eval/{tag_part(name)}", value) for name, value in eval_extras(meta).items()]
                yield from _points(time_ms, step, named)
    except RecordMissing:
        return


def _telemetry_points(path: Any) -> Iterator[Scalar]:
    counts: dict[str, int] = {}
    try:
        for row in telemetry_lines(path):
            if row is None:
                continue
            for column in TELEMETRY_SERIES:
                value = row.get(column)
                if _finite(value):
                    tag = f"telemetry/{column}/node{row['node']}_dev{row['device']}"
                    counts[tag] = counts.get(tag, -1) + 1
                    yield Scalar(tag, float(value), counts[tag], row["time_ms"] / 1000)
    except RecordMissing:
        return


def _points(time_ms: float, step: int, named: list[tuple[str, Any]] | tuple[tuple[str, Any], ...]) -> Iterator[Scalar]:
    for tag, value in named:
        if _finite(value):
            yield Scalar(tag, float(value), step, time_ms / 1000)


def tag_part(name: str) -> str:
    """A name from the record as one safe part of a tag: letters, digits, ``_``, ``.`` and ``-``, never ``.`` or
    ``..`` alone, at most 100 characters."""
    part = _UNSAFE.sub("_", name)[:100]
    return part if part.strip(".") else part.replace(".", "_") or "_"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
