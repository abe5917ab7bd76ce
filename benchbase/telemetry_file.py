"""``telemetry.csv``: one row per device per sample (docs/records.md).

An empty cell means the sensor is unavailable; it is never written as 0, because a reader averaging power must not
mistake "unknown" for "idle". Rows are flushed as they are written so a killed run keeps its telemetry, and the
reader drops the torn last row such a kill can leave.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchbase.contract import SensorReading
from benchbase.records import RecordError

TELEMETRY_COLUMNS: tuple[str, ...] = (
    "time_ms",
    "node",
    "device",
    "power_w",
    "energy_j",
    "memory_used_gib",
    "memory_total_gib",
    "utilization_pct",
    "temperature_c",
    "clock_mhz",
    "rss_gib",
)
_INT_COLUMNS = frozenset({"node", "device"})
_SENSOR_COLUMNS = TELEMETRY_COLUMNS[3:10]
_HEADER = ",".join(TELEMETRY_COLUMNS)


class TelemetryWriter:
    """Appends rows for one node; the header is written once, also when a resumed run reopens the file."""

    def __init__(self, path: Path, node: int) -> None:
        self.path = Path(path)
        self.node = int(node)
        first_line, ends_with_newline = _first_line_and_end(self.path)
        if first_line is not None and first_line != _HEADER:
            raise RecordError(
                f"{self.path} is not a benchbase telemetry file (unexpected header)",
                "move it away or choose another run folder",
            )
        self._handle: io.TextIOWrapper | None = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        if first_line is None:
            self._handle.write(_HEADER + "\n")
        elif not ends_with_newline:
            self._handle.write("\n")  # end the row a crash tore, so the next row starts on its own line
        self._handle.flush()
        self._csv = csv.writer(self._handle, lineterminator="\n")

    def write(self, readings: Sequence[SensorReading], rss_gib: float | None, time_ms: float) -> None:
        """One row per reading, all stamped ``time_ms`` (wall clock, ``time.time() * 1000``), then flush."""
        if self._handle is None:
            raise ValueError(f"telemetry file {self.path} is closed")
        for reading in readings:
            sensors = [getattr(reading, column) for column in _SENSOR_COLUMNS]
            self._csv.writerow(
                [_cell(time_ms), self.node, int(reading.device), *(_cell(v) for v in sensors), _cell(rss_gib)]
            )
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> TelemetryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line_and_end(path: Path) -> tuple[str | None, bool]:
    """The header of an existing file (``None`` if there is none yet) and whether its last row is complete."""
    if not path.is_file() or path.stat().st_size == 0:
        return None, True
    with open(path, "rb") as handle:
        first = handle.readline().decode("utf-8", errors="replace").strip()
        handle.seek(-1, io.SEEK_END)
        return first, handle.read(1) == b"\n"


def _cell(value: float | None) -> str:
    """``repr`` keeps every digit of wall-clock milliseconds; a non-finite reading is a broken sensor, so unknown."""
    if value is None:
        return ""
    number = float(value)
    return repr(number) if math.isfinite(number) else ""


def read_telemetry(path: Path) -> list[dict[str, Any]]:
    """Rows as dicts keyed by :data:`TELEMETRY_COLUMNS`: ``node`` and ``device`` ints, the rest floats or ``None``.

    A torn last row and malformed rows are dropped; columns are found by the header, so a file with extra or
    reordered columns still reads, and a column it lacks reads as ``None``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise RecordError(f"{path} is missing", "the run recorded no telemetry") from None
    except OSError as exc:
        raise RecordError(f"cannot read {path}: {exc.strerror}", "check the permissions") from None
    lines = text.split("\n")
    lines.pop()  # "" after a final newline, otherwise a row the writer had not finished
    rows = list(csv.reader(lines))
    if not rows:
        return []
    header = [name.strip() for name in rows[0]]
    if not {"time_ms", "node", "device"} <= set(header):
        raise RecordError(f"{path} has no time_ms/node/device columns", "it is not a benchbase telemetry file")
    result: list[dict[str, Any]] = []
    for cells in rows[1:]:
        if len(cells) != len(header):
            continue
        row = _parse_row(dict(zip(header, cells)))
        if row is not None:
            result.append(row)
    return result


def _parse_row(cells: dict[str, str]) -> dict[str, Any] | None:
    row: dict[str, Any] = {}
    try:
        for column in TELEMETRY_COLUMNS:
            text = cells.get(column, "").strip()
            if column in _INT_COLUMNS:
                row[column] = int(text)
            elif text:
                number = float(text)
                row[column] = number if math.isfinite(number) else None
            else:
                row[column] = None
    except ValueError:
        return None
    if row["time_ms"] is None:
        return None
    return row
