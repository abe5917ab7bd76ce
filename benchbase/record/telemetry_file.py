"""``telemetry.csv``: one row per device per sample (docs/records.md), its columns those of
:data:`benchbase.record.schema.TELEMETRY_COLUMNS`.

An empty cell means the sensor is unavailable; it is never written as 0, because a reader averaging power must not
mistake "unknown" for "idle". Rows go to the file as they are written (unbuffered: one ``write`` per sample), so a
killed run keeps its telemetry, the reader drops the torn last row such a kill can leave, and closing the file has
nothing left to flush: a full disk fails the write that met it, with the path named, never the close.

``energy_j`` is a cumulative counter with an arbitrary origin (NVML's total-energy counter counts from the driver's
load, RAPL's from when the sensors opened): only differences mean anything, and :func:`counter_energy_j` takes them.
"""

from __future__ import annotations

import bisect
import csv
import errno
import io
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchbase.contract import SensorReading
from benchbase.record import disk_space
from benchbase.record.files import (
    RecordError,
    LARGEST_NUMBER,
    RecordMissing,
    as_path,
    csv_cells,
    open_record_for_append,
    record_lines,
)
from benchbase.record.schema import SENSOR_COLUMNS, TELEMETRY_COLUMNS
from benchbase.record.spans import Spans

_INT_COLUMNS = frozenset({"node", "device"})
_HEADER = ",".join(TELEMETRY_COLUMNS)
#: What :func:`telemetry_lines` finds before a header in a file without a complete line.
_NO_LINES: list[str] = []


class TelemetryWriter:
    """Appends rows for one node; the header is written once, also when a resumed run reopens the file."""

    def __init__(self, path: Path, node: int) -> None:
        self.path = Path(path)
        self.node = int(node)
        try:
            # Never through a symlink nor into a file with other names: a resumed record may come from elsewhere.
            fd = open_record_for_append(self.path)
        except OSError as exc:
            raise disk_space.unwritable(exc, self.path) from None
        try:
            first_line, ends_with_newline = _first_line_and_end(fd)
            if first_line is not None and first_line != _HEADER:
                raise RecordError(
                    f"{self.path} is not a benchbase telemetry file (unexpected header)",
                    "move it away or choose another run folder",
                )
        except BaseException:
            os.close(fd)
            raise
        self._handle: io.FileIO | None = io.FileIO(fd, "a", closefd=True)
        if first_line is None:
            self._write_all(_HEADER + "\n")
        elif not ends_with_newline:
            self._write_all("\n")  # end the row a crash tore, so the next row starts on its own line

    def write(self, readings: Sequence[SensorReading], rss_gib: float | None, time_ms: float) -> None:
        """One row per reading, all stamped ``time_ms`` (wall clock, ``time.time() * 1000``), in one write."""
        if self._handle is None:
            raise ValueError(f"telemetry file {self.path} is closed")
        rows = io.StringIO()
        table = csv.writer(rows, lineterminator="\n")
        for reading in readings:
            sensors = [getattr(reading, column) for column in SENSOR_COLUMNS]
            table.writerow(
                [_cell(time_ms), self.node, int(reading.device), *(_cell(v) for v in sensors), _cell(rss_gib)]
            )
        self._write_all(rows.getvalue())

    def _write_all(self, text: str) -> None:
        """Raises :class:`benchbase.record.disk_space.RecordUnwritable` naming the file when the disk refuses it."""
        assert self._handle is not None
        data = memoryview(text.encode("utf-8"))
        try:
            while data:
                written = self._handle.write(data)
                if not written:  # a regular file that takes nothing more is full
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                data = data[written:]
        except OSError as exc:
            raise disk_space.unwritable(exc, self.path) from None

    def close(self) -> None:
        """Never raises: every row is already in the file, and a run must not end on a failed close."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            try:
                handle.close()
            except OSError:
                pass

    def __enter__(self) -> TelemetryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line_and_end(fd: int) -> tuple[str | None, bool]:
    """The header of an existing file (``None`` if there is none yet) and whether its last row is complete."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None, True
    head = os.pread(fd, len(_HEADER) + 2, 0)
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    return first, os.pread(fd, 1, size - 1) == b"\n"


def _cell(value: float | None) -> str:
    """``repr`` keeps every digit of wall-clock milliseconds; a non-finite reading is a broken sensor, so unknown."""
    if value is None:
        return ""
    number = float(value)
    return repr(number) if math.isfinite(number) else ""


def read_telemetry(path: Path) -> list[dict[str, Any]]:
    """Rows as dicts keyed by the schema's ``TELEMETRY_COLUMNS``: ``node`` and ``device`` ints, the rest floats or
    ``None``.

    A torn last row and malformed rows are dropped (:func:`read_telemetry_checked` counts them); columns are found
    by the header, so a file with extra or reordered columns still reads, and a column it lacks reads as ``None``.
    """
    return read_telemetry_checked(path)[0]


def read_telemetry_checked(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The rows of :func:`read_telemetry` and how many rows were dropped as malformed (a torn last row is not
    counted: a killed run leaves one, and it is no damage): :func:`telemetry_lines`, held whole."""
    rows: list[dict[str, Any]] = []
    bad = 0
    for row in telemetry_lines(path):
        if row is None:
            bad += 1
        else:
            rows.append(row)
    return rows, bad


def telemetry_lines(path: Path) -> Iterator[dict[str, Any] | None]:
    """Each row of the file in order, as :func:`read_telemetry` reads it, or ``None`` for a malformed one; blank
    rows and the torn last row a killed run leaves are not yielded.

    The file is read through :func:`benchbase.record.files.record_lines`: no symlink, no FIFO, bounded in size,
    rows and line length, every cell's number bounded, and a chunk at a time, so the 1.15 M rows of a 4-hour
    8-device run are never held: a reader keeps what its figures need. Raises :class:`RecordMissing` or
    :class:`RecordError` before the first row for a file that cannot be read, or one that is no telemetry file."""
    path = as_path(path)
    try:
        with record_lines(path) as lines:
            complete = (line for line, terminated in lines if terminated)
            cells = csv_cells(complete)
            header_cells = next(cells, _NO_LINES)
            if header_cells is _NO_LINES:
                return
            header = [name.strip() for name in header_cells or []]
            if not {"time_ms", "node", "device"} <= set(header):
                raise RecordError(f"{path} has no time_ms/node/device columns", "it is not a benchbase telemetry file")
            # Where each column is, the last of a repeated name as a dict of the row would hold it; -1 if absent.
            places = {name: index for index, name in enumerate(header)}
            columns = [(column, places.get(column, -1), column in _INT_COLUMNS) for column in TELEMETRY_COLUMNS]
            for row_cells in cells:
                row = _parse_row(row_cells, columns) if row_cells and len(row_cells) == len(header) else None
                if row is not None:
                    yield row
                elif row_cells != [] and row_cells != [""]:
                    yield None
    except RecordMissing:
        raise RecordMissing(f"{path} is missing", "the run recorded no telemetry") from None


def _parse_row(cells: list[str], columns: list[tuple[str, int, bool]]) -> dict[str, Any] | None:
    """One row's numbers by column (``columns``: name, place in the row or -1, integer or not): an index as an
    integer, a reading as :func:`bounded_float` reads it with the non-finite ones (and those it makes infinite)
    ``None``, an empty cell ``None``; ``None`` for a row with a cell that is no number, or no time."""
    row: dict[str, Any] = {}
    try:
        for column, place, integer in columns:
            text = cells[place].strip() if place >= 0 else ""
            if integer:
                row[column] = _small_int(text)
            elif text:
                # bounded_float inlined (a 4-hour record has 10 M cells): at or beyond LARGEST_NUMBER it is infinite,
                # so None here, as NaN is; a subnormal is 0.
                number = float(text)
                if -LARGEST_NUMBER < number < LARGEST_NUMBER:
                    row[column] = number if number == 0.0 or abs(number) >= _SMALLEST_NORMAL else 0.0
                else:
                    row[column] = None
            else:
                row[column] = None
    except ValueError:
        return None
    if row["time_ms"] is None:
        return None
    return row


#: The smallest normal double: below it (but not 0) a reading is subnormal, and read as 0.
_SMALLEST_NORMAL = sys.float_info.min


def _small_int(text: str) -> int:
    """A node or device index: a few digits; anything longer is no index (and Python refuses 4300 digits)."""
    if len(text) > 9:
        raise ValueError(f"index {text[:12]}... too long")
    return int(text)


def counter_energy_j(
    rows: Sequence[dict[str, Any]], start_ms: float, end_ms: float, exclude_ms: Sequence[Sequence[float]] = ()
) -> dict[tuple[int, int], float] | None:
    """Joules each device's energy counter advanced over ``[start_ms, end_ms]`` outside the ``exclude_ms`` spans
    (evaluations: ``[begin, end]`` pairs, clipped to the window and merged; a pair that is not two finite numbers is
    ignored). :func:`span_counter_energy_j` over what is left."""
    if not end_ms > start_ms:
        return None
    return span_counter_energy_j(rows, Spans([(start_ms, end_ms)]).minus(Spans.from_record(list(exclude_ms))))


def span_counter_energy_j(rows: Sequence[dict[str, Any]], spans: Spans) -> dict[tuple[int, int], float] | None:
    """Joules each device's energy counter advanced over ``spans`` (a resumed run's attempts, less evaluations and
    warm-ups: :mod:`benchbase.record.spans`).

    ``rows`` are :func:`read_telemetry` rows, of one node or several; a device is a ``(node, device)`` pair. The
    counter is read at sample times, so it is interpolated linearly to each span's ends (an error of at most the
    energy of one sampling interval per end, against the sampled-power mean's error of every interval).

    All or nothing, so a record never mixes two kinds of energy: ``None`` unless every device in ``rows`` has counter
    readings at or before and at or after each span, and its counter never goes backwards across a span (a driver
    reload resets NVML's; one between two attempts, outside every span, does no harm). The counter then covers
    every moment of the spans, checkpoint writes included.
    """
    readings: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for row in rows:
        counter = readings.setdefault((row["node"], row["device"]), [])
        if row.get("energy_j") is not None:
            counter.append((row["time_ms"], row["energy_j"]))
    sorted_readings = {}
    for key, counter in readings.items():
        counter.sort()
        sorted_readings[key] = ([time for time, _ in counter], [value for _, value in counter])
    return counter_readings_energy_j(sorted_readings, spans)


def counter_readings_energy_j(
    readings: Mapping[tuple[int, int], tuple[Sequence[float], Sequence[float]]], spans: Spans
) -> dict[tuple[int, int], float] | None:
    """:func:`span_counter_energy_j` of each device's counter readings already gathered: their times and values,
    sorted by time (then value, for equal times). The summary gathers them in its one pass over the rows
    (:mod:`benchbase.record.telemetry_scan`), and a lazy mapping there sorts one device at a time. A device with no
    readings makes it ``None``, as in that function."""
    counted = [(begin, end) for begin, end in spans if end > begin]
    if not readings or not counted:
        return None
    energies: dict[tuple[int, int], float] = {}
    for key in readings:
        times, values = readings[key]
        if not times or times[0] > counted[0][0] or times[-1] < counted[-1][1]:
            return None
        total = 0.0
        for begin, end in counted:
            first = bisect.bisect_right(times, begin) - 1
            last = bisect.bisect_left(times, end)
            bracket = values[first : last + 1]
            if any(later < earlier for earlier, later in zip(bracket, bracket[1:])):
                return None
            total += _counter_at(times, values, end) - _counter_at(times, values, begin)
        energies[key] = total
    return energies


def _counter_at(times: Sequence[float], values: Sequence[float], time_ms: float) -> float:
    """The counter at ``time_ms``, interpolated between the readings on either side (``times`` brackets it)."""
    right = bisect.bisect_left(times, time_ms)
    if times[right] == time_ms:
        return values[right]
    fraction = (time_ms - times[right - 1]) / (times[right] - times[right - 1])
    return values[right - 1] + fraction * (values[right] - values[right - 1])
