"""The statistics every A/B benchmark is judged by: the median of per-pair ratios and its 90% interval.

Each pair runs both arms back to back on the same machine (see :mod:`benchmarks.timing`), so its ratio (candidate /
baseline) cancels whatever the machine was doing then. Over ``n`` pairs the figure is the **median** of those
ratios, and the uncertainty is a **distribution-free confidence interval of the median from order statistics**:
with the ratios sorted, ``r(1) <= ... <= r(n)``, the interval ``[r(k), r(n+1-k)]`` misses the true median only when
``k`` or more ratios fall on one side of it, so its coverage is ``1 - 2 * P(Binomial(n, 1/2) <= k - 1)`` whatever
the ratios' distribution, assuming only that pairs are independent and alike (exchangeable). ``k`` is the largest
rank whose coverage is still at least 90%; being discrete, the coverage is usually above 90% (e.g. 93.8% for 5
pairs, where the interval is the full range). Fewer than 5 pairs cannot give 90% (4 pairs: at most 87.5%).

Chosen over a bootstrap because it is exact for small ``n`` (a bootstrap of the median from 5-10 values is known to
be poor), has no seed and no resampling, and is invariant under any monotone transform (the interval of the ratios
is the interval of their logarithms, so "A over B" and "B over A" agree).

The verdict against a goal ``value >= goal``: **met** when the whole interval is at or above the goal, **not met**
when it lies wholly below, **unsettled** when it straddles the goal (or too few pairs for an interval were run).

Pairs that would settle an unsettled result (an estimate): on the log scale the median's 90% interval has
half-width about ``z * sqrt(pi/2) * sigma / sqrt(N)`` for ``N`` pairs (``z`` = 1.645, ``sqrt(pi/2)`` the median's
efficiency factor under a normal spread), with ``sigma`` the spread of the log ratios estimated robustly from the
observed pairs (1.4826 x their median absolute deviation). The estimate is the ``N`` at which that half-width
equals the distance from the observed median to the goal: if the true median were the observed one, a run of that
many pairs would settle the verdict about half the time, and four times as many about 95% of the time.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.90
#: The fewest pairs whose order-statistic interval reaches :data:`CONFIDENCE` (5: the full range, 93.75%).
MIN_PAIRS = 5
#: The asymptotic factor of the median's standard error over the mean's, under a normal spread.
_MEDIAN_EFFICIENCY = math.sqrt(math.pi / 2)
#: Scales a median absolute deviation to a standard deviation under a normal spread.
_MAD_TO_SIGMA = 1.4826

MET, UNSETTLED, NOT_MET = "met", "unsettled", "NOT met"


def coverage(n: int, k: int) -> float:
    """Probability that ``[r(k), r(n+1-k)]`` of ``n`` exchangeable values holds their distribution's median."""
    if not 1 <= k <= (n + 1) // 2:
        raise ValueError(f"rank {k} is outside 1..{(n + 1) // 2} for {n} values")
    tail = sum(math.comb(n, i) for i in range(k)) / 2**n
    return 1.0 - 2.0 * tail


def interval_rank(n: int, confidence: float = CONFIDENCE) -> int | None:
    """The largest ``k`` whose interval ``[r(k), r(n+1-k)]`` covers the median with at least ``confidence``;
    ``None`` when even the full range (``k = 1``) falls short (too few values)."""
    best = None
    tail = 0  # 2**n * P(Binomial(n, 1/2) <= k - 1), exact in integers
    for k in range(1, (n + 1) // 2 + 1):
        tail += math.comb(n, k - 1)
        if 1.0 - 2 * tail / 2**n < confidence:
            break
        best = k
    return best


@dataclass(frozen=True)
class MedianInterval:
    """The median of ``n`` values and its distribution-free interval (``None`` bounds: too few values)."""

    median: float
    low: float | None
    high: float | None
    n: int
    #: The exact coverage of ``[low, high]`` (at least the nominal confidence), or ``None``.
    coverage: float | None

    @property
    def defined(self) -> bool:
        return self.low is not None and self.high is not None


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> MedianInterval:
    """The median of ``values`` and its order-statistic confidence interval."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    n = len(ordered)
    k = interval_rank(n, confidence)
    median = statistics.median(ordered)
    if k is None:
        return MedianInterval(median, None, None, n, None)
    return MedianInterval(median, ordered[k - 1], ordered[n - k], n, coverage(n, k))


def verdict(interval: MedianInterval, goal: float) -> str:
    """``met`` / ``unsettled`` / ``NOT met`` of a higher-is-better figure against ``goal``."""
    if not interval.defined:
        return UNSETTLED
    assert interval.low is not None and interval.high is not None
    if interval.low >= goal:
        return MET
    if interval.high < goal:
        return NOT_MET
    return UNSETTLED


def log_spread(values: Sequence[float]) -> float:
    """A robust standard deviation of ``log(values)``: 1.4826 x the median absolute deviation, or the sample
    standard deviation when more than half the values are identical (a MAD of 0)."""
    logs = [math.log(v) for v in values]
    if len(logs) < 2:
        return 0.0
    centre = statistics.median(logs)
    mad = statistics.median(abs(x - centre) for x in logs)
    return _MAD_TO_SIGMA * mad if mad > 0 else statistics.stdev(logs)


def pairs_to_settle(values: Sequence[float], goal: float, confidence: float = CONFIDENCE) -> int | None:
    """An estimate of how many pairs would make the interval clear ``goal`` on the side the observed median lies
    (see the module's docstring); ``None`` when the median sits exactly on the goal (no number of pairs would)."""
    if goal <= 0 or any(v <= 0 for v in values):
        raise ValueError("ratios and goal must be positive")
    distance = abs(math.log(statistics.median(values)) - math.log(goal))
    if distance == 0:
        return None
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    needed = (z * _MEDIAN_EFFICIENCY * log_spread(values) / distance) ** 2
    least = next(n for n in range(1, 1000) if interval_rank(n, confidence) is not None)
    return max(least, math.ceil(needed))
