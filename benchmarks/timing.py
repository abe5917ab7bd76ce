"""Paired, interleaved measurement: both arms of a comparison run in every pair, in alternating order.

A ratio between two numbers measured minutes apart on a shared machine measures the machine as much as the code:
another process, a thermal step or a page-cache flush lands on whichever arm ran then. So each pair runs every arm
once, back to back, and the order alternates from pair to pair (A B, B A, A B, ...) so neither arm always runs first.
The figure judged is the median of the per-pair ratios, with its 90% interval over pairs (:mod:`benchmarks.stats`);
each arm's own median and range are printed beside it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from benchbase.errors import BenchbaseError
from benchmarks.stats import MedianInterval, median_interval, pairs_to_settle, verdict

#: An arm runs its workload once and returns a throughput (work per second: higher is better).
Arm = Callable[[], float]


@dataclass(frozen=True)
class Series:
    """The throughputs one arm reached, one per pair, in pair order."""

    name: str
    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)


@dataclass(frozen=True)
class Comparison:
    """A candidate against its baseline, measured in the same pairs; ``unit`` names the throughput."""

    baseline: Series
    candidate: Series
    unit: str

    @property
    def pair_ratios(self) -> tuple[float, ...]:
        """Candidate over baseline within each pair, where both saw the same machine."""
        return tuple(c / b for c, b in zip(self.candidate.values, self.baseline.values))

    @property
    def interval(self) -> MedianInterval:
        """The median of the pair ratios and its 90% order-statistic interval."""
        return median_interval(self.pair_ratios)

    @property
    def ratio(self) -> float:
        """The median of the pair ratios: above 1 means the candidate does more work per second."""
        return self.interval.median

    def verdict(self, goal: float) -> str:
        """``met`` when the interval clears ``goal``, ``NOT met`` when it lies wholly below, else ``unsettled``."""
        return verdict(self.interval, goal)

    def pairs_to_settle(self, goal: float) -> int | None:
        """An estimate of the pairs an unsettled verdict needs (see :func:`benchmarks.stats.pairs_to_settle`)."""
        return pairs_to_settle(self.pair_ratios, goal)


def interleaved(arms: Mapping[str, Arm], repeats: int, warmup: int = 0, *, min_repeats: int | None = None,
                budget_s: float | None = None, clock: Callable[[], float] = time.perf_counter) -> dict[str, Series]:
    """Run every arm ``warmup`` rounds unrecorded, then up to ``repeats`` recorded rounds (pairs, for two arms),
    rotating the order so each arm takes every position in turn.

    Warm-up rounds absorb one-time costs (first-call allocations, lazily loaded libraries, a cold page cache) that
    would otherwise land on whichever arm happens to run first. With ``budget_s``, no round starts once the rounds
    so far plus one more of their average length would exceed it, but at least ``min_repeats`` are recorded: a busy
    machine gets fewer rounds rather than a suite that runs for half an hour.
    """
    least = repeats if min_repeats is None else min_repeats
    if not 1 <= least <= repeats:
        raise BenchbaseError(f"repeats is {repeats} with a minimum of {least}",
                             "measure at least one round, and no fewer than the minimum")
    if not arms:
        raise BenchbaseError("no arms to measure", "pass at least one arm")
    names = list(arms)
    recorded: dict[str, list[float]] = {name: [] for name in names}
    started = clock()
    for round_index in range(warmup + repeats):
        done = round_index - warmup
        elapsed = clock() - started
        if budget_s is not None and done >= least and elapsed * (round_index + 1) / round_index > budget_s:
            break
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            value = arms[name]()
            if round_index >= warmup:
                recorded[name].append(value)
    return {name: Series(name, tuple(values)) for name, values in recorded.items()}


def compare(baseline: tuple[str, Arm], candidate: tuple[str, Arm], *, unit: str, repeats: int, warmup: int = 0,
            min_repeats: int | None = None, budget_s: float | None = None) -> Comparison:
    """Measure two arms side by side (see :func:`interleaved`) and pair them up as a :class:`Comparison`."""
    (base_name, base_arm), (cand_name, cand_arm) = baseline, candidate
    series = interleaved({base_name: base_arm, cand_name: cand_arm}, repeats, warmup, min_repeats=min_repeats,
                         budget_s=budget_s)
    return Comparison(series[base_name], series[cand_name], unit)
