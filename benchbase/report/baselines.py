"""The 1x1 runs a Scalability ratio divides by, found for every row of a folder in time linear in its runs.

A multi-device row is compared against the 1x1 runs of its workload that completed with a throughput, were fit to
measure (:func:`benchbase.report.scaling.unfit`), and ran on the row's host with its software (docs/report-format.md,
"Scalability and comparability"). A folder of thousands of runs has thousands of rows asking this of the same few
workloads, so each workload's 1x1 runs are sorted once into those no row can use (counted by reason) and those each
(host, software) can use; a row's answer, with the statistics its ratio needs, is then a lookup, computed once per
(host, software) and shared by every row that asks it.

Why the others were rejected is said in the order a reader would meet the reasons walking the 1x1 runs in start
order, as it was when each row walked them itself: each reason is placed at the first run it applies to.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchbase.record.schema import CONVERGED
from benchbase.report.run import Run

NOT_COMPLETED = "not completed"
WITHOUT_THROUGHPUT = "without throughput"
ON_ANOTHER_HOST = "on another host"
WITH_OTHER_SOFTWARE = "with other software"


@dataclass(frozen=True)
class Baseline:
    """The comparable 1x1 runs of one workload on one host with one software (converged ones if any, else the
    completed ones), the mean and range of their throughput, and how many of the others were rejected, and why."""

    runs: tuple[Run, ...]
    rejected: Counter[str]
    mean: float | None
    low: float | None
    high: float | None


class WorkloadBaselines:
    """The 1x1 runs of one workload (in start order), ready to answer :meth:`for_host` for any row."""

    def __init__(self, candidates: Sequence[Run], why_unfit: Callable[[Run], str | None]) -> None:
        #: Reason -> (position of the first run it applies to, how many runs) for reasons no host changes.
        self._unusable: dict[str, tuple[int, int]] = {}
        #: Usable runs as (position, run), in start order, all together and by (host, software).
        self._usable: list[tuple[int, Run]] = []
        self._by_host: dict[str, list[tuple[int, Run]]] = {}
        self._by_host_software: dict[tuple[str, object], list[Run]] = {}
        for position, run in enumerate(candidates):
            reason = why_unfit(run)
            if not run.completed or run.p_train is None:
                self._reject(NOT_COMPLETED if not run.completed else WITHOUT_THROUGHPUT, position)
            elif reason is not None:
                self._reject(reason.split(":")[0], position)
            else:
                self._usable.append((position, run))
                self._by_host.setdefault(run.hostname, []).append((position, run))
                self._by_host_software.setdefault((run.hostname, run.software), []).append(run)
        #: Position of the first usable run on another host than the first usable run's.
        self._first_off_first_host = _first_change(self._usable, lambda run: run.hostname)
        #: The same per host, for software: where the first run with other software than the host's first is.
        self._first_other_software = {host: _first_change(runs, lambda run: run.software)
                                      for host, runs in self._by_host.items()}
        self._answers: dict[tuple[str, object], Baseline] = {}

    def _reject(self, reason: str, position: int) -> None:
        first, count = self._unusable.get(reason, (position, 0))
        self._unusable[reason] = (first, count + 1)

    def for_host(self, host: str, software: object) -> Baseline:
        """The :class:`Baseline` of a row whose runs all ran on ``host`` with ``software``."""
        key = (host, software)
        if key not in self._answers:
            self._answers[key] = self._answer(host, software)
        return self._answers[key]

    def _answer(self, host: str, software: object) -> Baseline:
        fit = self._by_host_software.get((host, software), [])
        on_host = self._by_host.get(host, [])
        reasons = dict(self._unusable)
        elsewhere = len(self._usable) - len(on_host)
        if elsewhere:
            first_position, first_run = self._usable[0]
            first = first_position if first_run.hostname != host else self._first_off_first_host
            reasons[ON_ANOTHER_HOST] = (first, elsewhere)
        other_software = len(on_host) - len(fit)
        if other_software:
            first_position, first_run = on_host[0]
            first = first_position if first_run.software != software else self._first_other_software[host]
            reasons[WITH_OTHER_SOFTWARE] = (first, other_software)
        in_order = sorted(reasons.items(), key=lambda item: item[1][0])
        rejected = Counter({reason: count for reason, (_, count) in in_order})
        converged = [run for run in fit if run.status == CONVERGED]
        runs = tuple(converged or fit)
        rates = [run.p_train for run in runs if run.p_train is not None]
        if not rates:
            return Baseline(runs, rejected, None, None, None)
        return Baseline(runs, rejected, statistics.fmean(rates), min(rates), max(rates))


def _first_change(runs: Sequence[tuple[int, Run]], attribute: Callable[[Run], object]) -> int:
    """Position of the first of ``runs`` whose ``attribute`` differs from the first one's (-1 when none does: then
    no caller asks, as every run agrees)."""
    if not runs:
        return -1
    first = attribute(runs[0][1])
    return next((position for position, run in runs if attribute(run) != first), -1)
