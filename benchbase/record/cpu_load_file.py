"""``cpu_load.csv``: the host's and the run's cumulative CPU seconds at each telemetry sample (docs/records.md).

The sampler writes it beside ``telemetry.csv`` and the summary builder reads it to tell whether other processes took
CPU time while the run trained; both take the line's layout from here. It is append-only like the telemetry, so a
killed run can leave a torn last row, which the reader drops.
"""

from __future__ import annotations

import math
from pathlib import Path

from benchbase.record.files import MAX_CSV_LINE, RecordError, bounded_float, read_record_text, split_lines
from benchbase.record.schema import CPU_LOAD_COLUMNS

HEADER = ",".join(CPU_LOAD_COLUMNS) + "\n"


def cpu_load_row(time_ms: float, host_busy_s: float, run_cpu_s: float) -> str:
    """One line of the file; ``repr`` keeps every digit of the cumulative counters, whose differences are read."""
    return f"{time_ms!r},{host_busy_s!r},{run_cpu_s!r}\n"


def read_cpu_load(path: Path) -> list[tuple[float, float, float]]:
    """``(time_ms, host_busy_s, run_cpu_s)`` rows of a ``cpu_load.csv``; a torn, malformed or non-finite row is
    dropped, and a file that is missing (telemetry off, an older record) or unreadable (a FIFO, a symlink, too large:
    see :mod:`benchbase.record.files`) has none."""
    try:
        lines, _ = split_lines(read_record_text(Path(path), strict=False), Path(path))
    except RecordError:
        return []
    rows = []
    for line in lines[1:]:
        if len(line) > MAX_CSV_LINE:
            continue
        try:
            time_ms, busy, own = (bounded_float(cell) for cell in line.split(",", 3))
        except ValueError:
            continue
        if all(map(math.isfinite, (time_ms, busy, own))):
            rows.append((time_ms, busy, own))
    return rows
