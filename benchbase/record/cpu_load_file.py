"""``cpu_load.csv``: the host's, the run's and the sampler's own cumulative CPU seconds at each telemetry sample
(docs/records.md).

The sampler writes it beside ``telemetry.csv`` and the summary builder reads it to tell whether other processes took
CPU time while the run trained, and what the sampling itself cost; both take the line's layout from here. It is
append-only like the telemetry, so a killed run can leave a torn last row, which the reader drops.
"""

from __future__ import annotations

import math
from pathlib import Path

from benchbase.record.files import MAX_CSV_LINE, RecordError, bounded_float, read_record_text, split_lines
from benchbase.record.schema import CPU_LOAD_COLUMNS

HEADER = ",".join(CPU_LOAD_COLUMNS) + "\n"


def cpu_load_row(time_ms: float, host_busy_s: float, run_cpu_s: float, sampler_cpu_s: float) -> str:
    """One line of the file; ``repr`` keeps every digit of the cumulative counters, whose differences are read."""
    return f"{time_ms!r},{host_busy_s!r},{run_cpu_s!r},{sampler_cpu_s!r}\n"


def read_cpu_load(path: Path) -> list[tuple[float, float, float]]:
    """``(time_ms, host_busy_s, run_cpu_s)`` rows of a ``cpu_load.csv``; a torn, malformed or non-finite row is
    dropped, and a file that is missing (telemetry off, an older record) or unreadable (a FIFO, a symlink, too large:
    see :mod:`benchbase.record.files`) has none."""
    return [(row[0], row[1], row[2]) for row in _rows(path)]


def read_sampler_cpu(path: Path) -> list[float]:
    """The sampler thread's cumulative CPU seconds of each row of a ``cpu_load.csv``, in file order; none where the
    file is missing, unreadable, or older than the column (three cells a row)."""
    return [row[3] for row in _rows(path) if len(row) == 4]


def _rows(path: Path) -> list[tuple[float, ...]]:
    """Every well-formed row's finite numbers: three in a record older than ``sampler_cpu_s``, four since."""
    try:
        lines, _ = split_lines(read_record_text(Path(path), strict=False), Path(path))
    except RecordError:
        return []
    rows = []
    for line in lines[1:]:
        if len(line) > MAX_CSV_LINE:
            continue
        cells = line.split(",", len(CPU_LOAD_COLUMNS))
        if len(cells) not in (len(CPU_LOAD_COLUMNS) - 1, len(CPU_LOAD_COLUMNS)):
            continue
        try:
            row = tuple(bounded_float(cell) for cell in cells)
        except ValueError:
            continue
        if all(map(math.isfinite, row)):
            rows.append(row)
    return rows
