"""Which MLPerf division a run record may claim.

MLPerf's closed division compares like with like: the benchmark's own workload, unchanged. A benchbase record is that
only when two things hold: the run changed no immutable key (``summary.json`` ``official``, decided when the config
was resolved: :func:`benchbase.config.resolve.resolve_config`), and it ran the case's official configuration, its
default preset (the workload vendors tune for; a demo preset shrinks the model and the data, so a demo run is never a
closed result however faithfully it ran). A third condition is benchbase's own: the run had its host to itself
(``summary.json`` ``host``: neither contended nor oversubscribed), since an official figure measured while other
processes took the CPUs is refused a clean verdict everywhere the report shows it (README, "A clean figure").
Everything else is an open-division result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchbase.errors import BenchbaseError

DIVISIONS = ("closed", "open")


def division_for(
    requested: str | None, summary: Mapping[str, Any], record: Mapping[str, Any], official_preset: str, where: str
) -> str:
    """The ``submission_division`` of a run: ``requested`` (``--division``) when the run may claim it, else
    ``closed`` for an official run of the official configuration and ``open`` for any other; ``--division closed``
    for a run that may not claim it is refused in one line saying why."""
    if requested is not None and requested not in DIVISIONS:
        raise BenchbaseError(f"unknown division {requested!r}", f"use one of: {', '.join(DIVISIONS)}")
    why_not = _why_not_closed(summary, record, official_preset, where)
    if requested == "closed" and why_not is not None:
        raise BenchbaseError(f"{why_not}, so it cannot be a closed-division result", "export it with --division open")
    return requested or ("open" if why_not else "closed")


def _why_not_closed(
    summary: Mapping[str, Any], record: Mapping[str, Any], official_preset: str, where: str
) -> str | None:
    """What keeps the run out of the closed division, in words; ``None`` when nothing does."""
    if not summary.get("official"):
        changed = ", ".join(str(c) for c in record.get("unofficial_changes") or []) or "immutable keys"
        return f"{where} is unofficial (changed: {changed})"
    preset = summary.get("preset") or record.get("preset")
    if preset != official_preset:
        return f"{where} ran preset {preset!r}, not the case's official configuration (preset {official_preset!r})"
    host = summary.get("host") if isinstance(summary.get("host"), Mapping) else {}
    if host.get("contended") or host.get("oversubscribed"):
        return f"{where} was measured on a contended or oversubscribed host (summary.json host), no clean result"
    return None
