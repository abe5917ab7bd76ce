"""``report --verify``: which rows rest on a record that does not prove its own figures.

A buyer's table is read from folders vendors sent. With ``--verify`` every run of the table (each node's part of a
multi-node run too) is checked by :mod:`benchbase.verify` first, and a row holding a run that does not verify is
marked, its first finding in the legend; without it the report reads summaries only and stays as fast as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from benchbase.report.run import Run
from benchbase.verify.record import verify_run


def first_findings(runs: Iterable[Run], find_case: Callable[[str], Any]) -> dict[str, str | None]:
    """Run id -> the first finding of the first of its folders that does not verify, or ``None`` when all do."""
    lookup = functools.cache(find_case)
    outcome: dict[str, str | None] = {}
    for run in runs:
        outcome[run.run_id] = None
        for folder in (run.path, *run.part_paths):
            verdict = verify_run(folder, lookup)
            if verdict.findings:
                outcome[run.run_id] = str(verdict.findings[0])
                break
    return outcome
