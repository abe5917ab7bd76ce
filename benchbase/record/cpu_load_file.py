"""``cpu_load.csv``: the host's and the run's cumulative CPU seconds at each telemetry sample (docs/records.md).

The sampler writes it beside ``telemetry.csv`` and the summary builder reads it to tell whether other processes took
CPU time while the run trained; both take the line's layout from here. It is append-only like the telemetry, so a
killed run can leave a torn last row, which the reader drops.
"""

from __future__ import annotations

from pathlib import Path

from benchbase.record.schema import CPU_LOAD_COLUMNS

HEADER = ",".join(CPU_LOAD_COLUMNS) + "\n"


def cpu_load_row(time_ms: float, host_busy_s: float, run_cpu_s: float) -> str:
    """One line of the file; ``repr`` keeps every digit of the cumulative counters, whose differences are read."""
    return f"{time_ms!r},{host_busy_s!r},{run_cpu_s!r}\n"


def read_cpu_load(path: Path) -> list[tuple[float, float, float]]:
    """``(time_ms, host_busy_s, run_cpu_s)`` rows of a ``cpu_load.csv``; a torn or malformed row is dropped, and a
    missing file (telemetry off, an older record) has none."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").split("\n")[1:-1]
    except OSError:
        return []
    rows = []
    for line in lines:
        try:
            time_ms, busy, own = (float(cell) for cell in line.split(","))
        except ValueError:
            continue
        rows.append((time_ms, busy, own))
    return rows
