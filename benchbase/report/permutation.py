"""A one-sided permutation test of two small groups of repeats, written here because scipy is not a dependency.

Repeats of a benchmark are few (three to ten runs a side) and their spread has no known shape: a contended host
gives a long tail, a quiet one a tight cluster. A permutation test assumes neither a distribution nor large groups:
under the null hypothesis that both groups come from one population, every way of splitting the pooled values into
groups of the same sizes is equally likely, so the p-value is the share of those splits whose statistic is at least
the observed one. With up to :data:`EXACT_SPLITS` splits every one is counted (exact); past it a fixed-seed sample of
:data:`SAMPLED_SPLITS` splits estimates the share, and the p-value counts the observed split as one of them, so it is
never zero. The statistic is the difference in means, so a run twice as slow weighs more than one a little slow
(Mann-Whitney's ranks would weigh both alike).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

#: Up to this many splits the test counts every one of them.
EXACT_SPLITS = 200_000
#: Past :data:`EXACT_SPLITS`, the number of random splits drawn (with a fixed seed, so a verdict is reproducible).
SAMPLED_SPLITS = 100_000
#: Differences closer than this (relative to the values' scale) are ties: float sums in another order differ there.
_TIE = 1e-9


@dataclass(frozen=True)
class PermutationResult:
    #: The share of splits whose mean of ``low`` minus mean of ``high`` is at least the observed one.
    p_value: float
    #: The smallest p-value groups of these sizes can give (all values distinct, the observed split the extreme).
    smallest_p: float
    #: How many splits were counted, and whether that was all of them.
    splits: int
    exact: bool


def smallest_p_value(first: int, second: int) -> float:
    """The smallest p-value of a one-sided permutation test of groups of these sizes: one split in all of them."""
    return 1.0 / math.comb(first + second, second)


def one_sided_test(high: Sequence[float], low: Sequence[float]) -> PermutationResult:
    """How likely a split of the pooled values puts a mean difference ``mean(high) - mean(low)`` at least as large
    as the observed one, were both groups one population: small when ``high`` truly lies above ``low``."""
    if not high or not low:
        raise ValueError("a permutation test needs at least one value in each group")
    pooled = [*high, *low]
    total, size = sum(pooled), len(low)
    scale = max(abs(value) for value in pooled) or 1.0
    observed = _difference(sum(low), total, len(high), size)
    splits = math.comb(len(pooled), size)
    if splits <= EXACT_SPLITS:
        as_extreme = sum(
            _difference(sum(pooled[i] for i in chosen), total, len(high), size) >= observed - _TIE * scale
            for chosen in itertools.combinations(range(len(pooled)), size)
        )
        return PermutationResult(as_extreme / splits, smallest_p_value(len(high), size), splits, True)
    draw = random.Random(0)
    indices = range(len(pooled))
    as_extreme = sum(
        _difference(sum(pooled[i] for i in draw.sample(indices, size)), total, len(high), size)
        >= observed - _TIE * scale
        for _ in range(SAMPLED_SPLITS)
    )
    return PermutationResult((as_extreme + 1) / (SAMPLED_SPLITS + 1), smallest_p_value(len(high), size),
                             SAMPLED_SPLITS, False)


def _difference(low_sum: float, total: float, high_count: int, low_count: int) -> float:
    """Mean of the high group minus mean of the low group, the low group's sum given and the high's the rest."""
    return (total - low_sum) / high_count - low_sum / low_count
