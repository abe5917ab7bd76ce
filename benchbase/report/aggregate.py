"""What a group of runs says together: stability, spread, and the means a row prints.

Decisions, each a reader's question answered honestly:

* Stability counts every run that was allowed to finish: ``failed``, ``timeout`` and ``not_converged`` runs did not
  reach the target and count against it. ``interrupted`` runs were stopped by an operator and say nothing about
  stability, so they are left out of the fraction and listed as excluded in the detail view.
* The row's numbers are means over the group's converged runs: a run that never reached the target did a different
  amount of work. When none converged, the means fall back to the completed runs (converged or not_converged: they
  finished their training loop, so their throughput is a full measurement) and the detail view says so.
  Failed, timed-out, interrupted and diverged runs never feed a mean. A ``diverged`` run (a non-finite training
  loss) counts against stability like a failed one, but gives no Performance figure: the steps it timed after its
  loss went non-finite trained nothing, and NaN arithmetic can run at another speed than real training. The
  detail view lists it as such.
* Throughput spread is the range and the coefficient of variation (sample standard deviation, n-1, over the mean)
  of ``p_train`` over the completed runs; time to target's, over the converged runs. The CV needs two runs.
* The olympic time to target is MLPerf's aggregate of a result: of the counted runs, drop the fastest and the
  slowest and average the rest, a run that did not reach the target counting as the slowest possible. It needs
  three counted runs, and is not stated when more than one did not converge (one would be left in the mean).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from benchbase.record.schema import CONVERGED, INTERRUPTED
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
class Spread:
    """Lowest and highest of ``n`` values, and their coefficient of variation (``None`` below two values)."""

    low: float
    high: float
    n: int
    cv: float | None


def spread(values: Sequence[float]) -> Spread | None:
    """The :class:`Spread` of ``values``; ``None`` when there are none."""
    if not values:
        return None
    mean = statistics.fmean(values)
    cv = statistics.stdev(values) / mean if len(values) > 1 and mean else None
    return Spread(low=min(values), high=max(values), n=len(values), cv=cv)


@dataclass(frozen=True)
class Olympic:
    """MLPerf's olympic mean of time to target: ``value`` over ``used`` of the ``of`` counted runs, or why not."""

    value: float | None
    used: int
    of: int
    reason: str | None = None


@dataclass(frozen=True)
class GroupStats:
    key: GroupKey
    runs: tuple[Run, ...]
    #: The ``--repeat`` group the runs belong to; ``None`` for a run made alone.
    repeat_group: str | None = None

    @cached_property
    def interrupted(self) -> tuple[Run, ...]:
        return tuple(run for run in self.runs if run.status == INTERRUPTED)

    @cached_property
    def counted(self) -> tuple[Run, ...]:
        """The runs stability is judged over (all but interrupted ones)."""
        return tuple(run for run in self.runs if run.status != INTERRUPTED)

    @cached_property
    def converged(self) -> tuple[Run, ...]:
        return tuple(run for run in self.runs if run.status == CONVERGED)

    @cached_property
    def completed(self) -> tuple[Run, ...]:
        return tuple(run for run in self.runs if run.completed)

    @cached_property
    def basis(self) -> Basis:
        if self.converged:
            return "converged"
        return "completed" if self.completed else "none"

    @cached_property
    def basis_runs(self) -> tuple[Run, ...]:
        return self.converged or self.completed

    @cached_property
    def stability(self) -> tuple[int, int] | None:
        """(converged, counted) or ``None`` when every run was interrupted."""
        counted = self.counted
        return (len(self.converged), len(counted)) if counted else None

    def mean(self, attribute: str) -> Stat | None:
        """Mean of a :class:`Run` attribute over the basis runs that have it; ``None`` when none does. Each is
        computed once per group: a row's cells, values and detail all ask for the same means."""
        if attribute not in self._means:
            self._means[attribute] = self._mean([getattr(run, attribute) for run in self.basis_runs])
        return self._means[attribute]

    @cached_property
    def _means(self) -> dict[str, Stat | None]:
        return {}

    @property
    def extra_names(self) -> tuple[str, ...]:
        """The case extras any run of the group recorded, in the order the runs name them."""
        return tuple(dict.fromkeys(name for run in self.runs for name in run.final_extras))

    def mean_extra(self, name: str) -> Stat | None:
        """Mean of the final value of the case extra ``name``, over the basis runs, as :meth:`mean`."""
        return self._mean([run.final_extras.get(name) for run in self.basis_runs])

    def mean_by(self, measure: Callable[[Run], float | None]) -> Stat | None:
        """Mean of a figure computed from each basis run (``None`` where it cannot be), as :meth:`mean`."""
        return self._mean([measure(run) for run in self.basis_runs])

    @staticmethod
    def _mean(per_run: list[float | None]) -> Stat | None:
        """``per_run`` holds one entry per basis run, ``None`` where that run did not measure the quantity."""
        values = [value for value in per_run if value is not None]
        if not values:
            return None
        return Stat(value=statistics.fmean(values), n=len(values), of=len(per_run))

    @cached_property
    def _throughput_spread(self) -> Spread | None:
        return spread([run.p_train for run in self.completed if run.p_train is not None])

    def throughput_spread(self) -> Spread | None:
        """Spread of ``p_train`` over the completed runs (computed once: the values, the cells and the detail ask)."""
        return self._throughput_spread

    def throughput_cv(self) -> float | None:
        """Coefficient of variation of ``p_train`` over the completed runs; ``None`` with fewer than two."""
        found = self.throughput_spread()
        return found.cv if found else None

    def time_to_target_spread(self) -> Spread | None:
        """Spread of time to target over the converged runs (only they reached it)."""
        return spread([run.time_to_target_s for run in self.converged if run.time_to_target_s is not None])

    def olympic_time_to_target(self) -> Olympic:
        """MLPerf's olympic mean of time to target over the counted runs (see the module docstring)."""
        counted = self.counted
        if len(counted) < 3:
            return Olympic(None, 0, len(counted), f"{len(counted)} counted run(s), needs 3")
        times = [run.time_to_target_s if run.status == CONVERGED else math.inf for run in counted]
        if None in times:
            return Olympic(None, 0, len(counted), "a converged run lacks its time to target")
        kept = sorted(times)[1:-1]  # type: ignore[type-var]
        if math.inf in kept:
            missed = sum(run.status != CONVERGED for run in counted)
            return Olympic(None, 0, len(counted), f"{missed} of {len(counted)} runs did not reach the target")
        return Olympic(statistics.fmean(kept), len(kept), len(counted))
