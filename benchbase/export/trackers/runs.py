"""Which runs a tracker export takes: every finished run under the given folders, read as the report reads them (one
merged run per multi-node run), with the records that cannot be exported named, not silently dropped."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchbase.errors import BenchbaseError
from benchbase.record.schema import RUNNING
from benchbase.report.loading import load_runs
from benchbase.report.run import Run


def exportable_runs(paths: Sequence[Path]) -> tuple[tuple[Run, ...], tuple[str, ...]]:
    """The finished runs under ``paths`` and one line for each record left out (unreadable, or still running)."""
    result = load_runs(paths)
    left_out = [f"{skip.path}: {skip.reason}" for skip in result.skipped]
    runs = []
    for run in result.runs:
        if run.status == RUNNING:
            left_out.append(f"{run.path}: still running; export it once it has ended")
        else:
            runs.append(run)
    if not runs:
        reasons = "; ".join(left_out) or "no run records"
        raise BenchbaseError(f"nothing to export under {', '.join(map(str, paths))} ({reasons})",
                             "pass finished run directories or a folder of them (e.g. reports/runs)")
    return tuple(runs), tuple(left_out)
