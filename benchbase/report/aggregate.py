"""What a group of runs says together: stability, spread, and the means a row prints.

Decisions, each a reader's question answered honestly:

* Stability counts every run that was allowed to finish: ``failed``, ``timeout`` and ``not_converged`` runs did not
  reach the target and count against it. ``interrupted`` runs were stopped by an operator and say nothing about
  stability, so they are left out of the fraction and listed as excluded in the detail view.
* The row's numbers are means over the group's converged runs: a run that never reached the target did a different
  amount of work. When none converged, the means fall back to the completed runs (converged or not_converged: they
  finished their training loop, so their throughput is a full measurement) and the detail view says so.
  Failed, timed-out and interrupted runs never feed a mean.
* Throughput spread is the coefficient of variation (sample standard deviation, n-1, over the mean) of ``p_train``
  over the completed runs; it needs at least two.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Literal

from benchbase.report.grouping import GroupKey
from benchbase.report.run import Run

Basis = Literal["converged", "completed", "none"]


@dataclass(frozen=True)
class Stat:
    """A mean over the basis runs that measured the quantity: ``n`` of ``of`` runs had a value."""

    value: float
    n: int
    of: int

    @property
    def partial(self) -> bool:
        return self.n < self.of


@dataclass(frozen=True)
class GroupStats:
    key: GroupKey
    runs: tuple[Run, ...]

    @property
    def interrupted(self) -> tuple[Run, ...]:
        return tuple(run for run in self.runs if run.status == "interrupted")

    @property
    def counted(self) -> tuple[Run, ...]:
        """The runs stability is judged over (all but interrupted ones)."""
        return tuple(run for run in self.runs if run.status != "interrupted")

    @property
    def converged(self) -> tuple[Run, ...]:
        return tuple(run for run in self.runs if run.status == "converged")

    @property
    def completed(self) -> tuple[Run, ...]:
        return tuple(run for run in self.runs if run.completed)

    @property
    def basis(self) -> Basis:
        if self.converged:
            return "converged"
        return "completed" if self.completed else "none"

    @property
    def basis_runs(self) -> tuple[Run, ...]:
        return self.converged or self.completed

    @property
    def stability(self) -> tuple[int, int] | None:
        """(converged, counted) or ``None`` when every run was interrupted."""
        counted = self.counted
        return (len(self.converged), len(counted)) if counted else None

    def mean(self, attribute: str) -> Stat | None:
        """Mean of a :class:`Run` attribute over the basis runs that have it; ``None`` when none does."""
        return self._mean([getattr(run, attribute) for run in self.basis_runs])

    @property
    def extra_names(self) -> tuple[str, ...]:
        """The case extras any run of the group recorded, in the order the runs name them."""
        return tuple(dict.fromkeys(name for run in self.runs for name in run.final_extras))

    def mean_extra(self, name: str) -> Stat | None:
        """Mean of the final value of the case extra ``name``, over the basis runs, as :meth:`mean`."""
        return self._mean([run.final_extras.get(name) for run in self.basis_runs])

    @staticmethod
    def _mean(per_run: list[float | None]) -> Stat | None:
        """``per_run`` holds one entry per basis run, ``None`` where that run did not measure the quantity."""
        values = [value for value in per_run if value is not None]
        if not values:
            return None
        return Stat(value=statistics.fmean(values), n=len(values), of=len(per_run))

    def throughput_cv(self) -> float | None:
        """Spread of ``p_train`` over the completed runs; ``None`` with fewer than two measurements."""
        values = [run.p_train for run in self.completed if run.p_train is not None]
        if len(values) < 2:
            return None
        mean = statistics.fmean(values)
        return statistics.stdev(values) / mean if mean else None
