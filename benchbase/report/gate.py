"""The regression gate of ``report --compare A B --fail-if FIGURE:THRESHOLD`` (docs/report-format.md, "The gate").

A release gate must not fail on noise nor pass on a real slowdown, so a figure fails only when both hold: B's mean is
worse than A's by more than the threshold, and the repeats show that this is no accident of the host. The second is
a one-sided permutation test (:mod:`benchbase.report.permutation`) of B against A shifted by the threshold (each A
value moved to the worst B may be): its p-value is how often a random split of the runs would show B that far past
the allowed limit were both sides one population. ``p <= ALPHA`` is significant. Groups too small to ever reach
:data:`ALPHA` (fewer than three runs a side) cannot show it: a change within the threshold still passes, and a change
beyond it is reported as undecided, never passed or failed in silence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from benchbase.errors import BenchbaseError
from benchbase.record.schema import report_means
from benchbase.report.compare import figure_directions
from benchbase.report.permutation import PermutationResult, one_sided_test, smallest_p_value
from benchbase.report.run import Run

#: The significance level of the gate's test.
ALPHA = 0.05
PASS, FAIL, UNDECIDED = "pass", "FAIL", "undecided"
#: The test as named in every verdict.
TEST_NAME = "one-sided permutation test of the difference in means"


def gated_figures() -> dict[str, str]:
    """Each figure a run records on its own and whose better direction is known -> ``"higher"`` or ``"lower"``."""
    per_run = set(report_means())
    return {name: better for name, better in figure_directions().items() if name in per_run}


@dataclass(frozen=True)
class Threshold:
    """``FIGURE:AMOUNT[%]``: how far B may move from A in the figure's worse direction."""

    figure: str
    #: Signed as given: negative for a higher-is-better figure (a fall), positive for a lower-is-better one.
    amount: float
    #: Whether ``amount`` is a percentage of A's mean (else a difference in the figure's own unit).
    relative: bool
    better: str
    text: str

    def limit(self, a_value: float) -> float:
        """The worst B may be against one A value."""
        return a_value * (1 + self.amount / 100) if self.relative else a_value + self.amount


def parse_threshold(text: str) -> Threshold:
    """One ``--fail-if`` value, e.g. ``p_train:-5%`` or ``time_to_target_s:+10%`` or ``e2e_s:30``."""
    figures = gated_figures()
    fix = "write --fail-if FIGURE:CHANGE, e.g. p_train:-5% or time_to_target_s:+10%"
    figure, colon, amount_text = text.rpartition(":")
    if not colon or not figure:
        raise BenchbaseError(f"--fail-if {text!r} has no figure", fix)
    if figure not in figures:
        raise BenchbaseError(f"--fail-if names {figure!r}, which is not a figure the gate can test",
                             f"use one of: {', '.join(sorted(figures))}")
    relative = amount_text.endswith("%")
    try:
        amount = float(amount_text[:-1] if relative else amount_text)
    except ValueError:
        raise BenchbaseError(f"--fail-if {text!r}: {amount_text!r} is not a number or a percentage", fix) from None
    if not math.isfinite(amount) or (relative and amount <= -100):
        raise BenchbaseError(f"--fail-if {text!r}: {amount_text!r} is no possible change", fix)
    better = figures[figure]
    if (better == "higher" and amount > 0) or (better == "lower" and amount < 0):
        worse, sign = ("a fall", "-") if better == "higher" else ("a rise", "+")
        raise BenchbaseError(
            f"--fail-if {text!r}: {figure} is {better}-is-better, so getting worse is {worse}",
            f"write the allowed change with its sign: {figure}:{sign}{amount_text.lstrip('+-')}",
        )
    return Threshold(figure, amount, relative, better, text)


@dataclass(frozen=True)
class Verdict:
    threshold: Threshold
    outcome: str
    a_values: tuple[float, ...]
    b_values: tuple[float, ...]
    #: B's mean against A's: relative (a fraction) for a percentage threshold, else in the figure's unit.
    change: float | None
    #: Whether the change goes past the threshold in the worse direction.
    beyond: bool
    test: PermutationResult | None
    #: Runs of each side that did not record the figure.
    a_missing: int = 0
    b_missing: int = 0


def judge(threshold: Threshold, a: Sequence[Run], b: Sequence[Run]) -> Verdict:
    """The gate's verdict on one threshold for sides ``a`` (the baseline) and ``b`` (the candidate)."""
    a_values, b_values = _values(a, threshold.figure), _values(b, threshold.figure)
    missing = {"a_missing": len(a) - len(a_values), "b_missing": len(b) - len(b_values)}
    if not a_values or not b_values:
        return Verdict(threshold, UNDECIDED, a_values, b_values, None, False, None, **missing)
    a_mean, b_mean = sum(a_values) / len(a_values), sum(b_values) / len(b_values)
    if threshold.relative:
        change = (b_mean - a_mean) / abs(a_mean) if a_mean else None
    else:
        change = b_mean - a_mean
    limits = tuple(threshold.limit(value) for value in a_values)
    limit_mean = sum(limits) / len(limits)
    beyond = b_mean < limit_mean if threshold.better == "higher" else b_mean > limit_mean
    # The side expected higher under "B is no worse than allowed" is the test's ``high`` group.
    high, low = (limits, b_values) if threshold.better == "higher" else (b_values, limits)
    test = one_sided_test(high, low)
    if not beyond:
        outcome = PASS
    elif test.smallest_p > ALPHA:
        outcome = UNDECIDED
    else:
        outcome = FAIL if test.p_value <= ALPHA else PASS
    return Verdict(threshold, outcome, a_values, b_values, change, beyond, test, **missing)


def fewest_runs_per_side() -> int:
    """The fewest runs a side needs, with as many on the other, for the test to be able to reach :data:`ALPHA`."""
    runs = 1
    while smallest_p_value(runs, runs) > ALPHA:
        runs += 1
    return runs


def _values(runs: Sequence[Run], figure: str) -> tuple[float, ...]:
    """The figure of each run that recorded it (a run that stopped early may lack a throughput)."""
    found = (run.values.get(figure) for run in runs)
    return tuple(float(value) for value in found if isinstance(value, (int, float)) and not isinstance(value, bool))
