"""The detail view's provenance lines: the libraries a row ran with, the code's revisions, the scheduler's jobs."""

from __future__ import annotations

import re
from collections.abc import Sequence

from benchbase.report import formatting
from benchbase.report.aggregate import GroupStats
from benchbase.report.run import Run

#: A git commit in a revision, shortened for reading (the record keeps it whole).
_COMMIT = re.compile(r"\b([0-9a-f]{12})[0-9a-f]{28}\b")


def provenance_items(stats: GroupStats) -> tuple[tuple[str, str], ...]:
    """``Libraries``, ``Code`` and ``Job`` lines, in that order."""
    return (("Libraries", _libraries_text(stats)), ("Code", _code_text(stats.runs)), ("Job", _job_text(stats.runs)))


def _libraries_text(stats: GroupStats) -> str:
    """The row's own (they are part of its configuration), communication first."""
    found = [name for name in (stats.key.communication_library, stats.key.kernel_library) if name]
    return "; ".join(found) if found else formatting.not_available("not recorded")


def _code_text(runs: Sequence[Run]) -> str:
    """Each distribution's revision, once per distinct set among the row's runs."""
    texts = []
    for run in runs:
        revisions = run.code_revisions
        if revisions:
            texts.append(", ".join(f"{name} {_short(revision)}" for name, revision in revisions))
    return "; ".join(dict.fromkeys(texts)) if texts else formatting.not_available("not recorded")


def _short(revision: str | None) -> str:
    return _COMMIT.sub(r"\1", revision) if revision else "unknown"


def _job_text(runs: Sequence[Run]) -> str:
    """Each run's job, by run id, where it ran inside one."""
    jobs = [f"{run.run_id}: {run.job}" for run in runs if run.job]
    return "; ".join(jobs) if jobs else formatting.not_available("not run inside a scheduler's job")
