"""The statistics behind every verdict, checked on synthetic data whose answer is known."""

from __future__ import annotations

import math
import random

import pytest

from benchmarks import stats
from benchmarks.stats import MedianInterval, median_interval, pairs_to_settle, verdict


def test_the_interval_ranks_are_the_largest_with_at_least_90_percent_binomial_coverage() -> None:
    # By hand: P(Bin(n, 1/2) <= k-1) on each side. n=5: the full range, 1 - 2/32; n=8: k=2, 1 - 2*9/256;
    # n=9: k=2, 1 - 2*10/512 (k=3 would be 1 - 2*46/512 = 0.82); n=20: k=6, 1 - 2*21700/2**20.
    assert [stats.interval_rank(n) for n in (4, 5, 6, 7, 8, 9, 10, 20)] == [None, 1, 1, 1, 2, 2, 2, 6]
    assert stats.coverage(5, 1) == pytest.approx(1 - 2 / 32)
    assert stats.coverage(8, 2) == pytest.approx(1 - 2 * 9 / 256)
    assert stats.coverage(9, 3) == pytest.approx(1 - 2 * 46 / 512)
    assert stats.coverage(20, 6) == pytest.approx(1 - 2 * 21700 / 2**20)
    assert stats.MIN_PAIRS == 5 and stats.interval_rank(stats.MIN_PAIRS - 1) is None


def test_the_interval_is_the_order_statistics_of_that_rank() -> None:
    found = median_interval([1.04, 0.97, 1.01, 0.99, 1.10, 0.95, 1.02, 1.00, 0.98])
    assert found.median == 1.00 and (found.low, found.high) == (0.97, 1.04) and found.n == 9
    assert found.coverage == pytest.approx(1 - 2 * 10 / 512)
    too_few = median_interval([1.0, 2.0, 3.0, 4.0])
    assert too_few.median == 2.5 and not too_few.defined and too_few.coverage is None


@pytest.mark.parametrize("n", [5, 9, 15])
def test_over_many_synthetic_experiments_the_interval_holds_the_true_median_as_often_as_promised(n: int) -> None:
    # Skewed, heavy-ish ratios with a known median: exp(N(0, 0.04)) * 1.2 has median 1.2 exactly.
    rng = random.Random(2024 + n)
    trials = 4000
    held = sum(
        found.low <= 1.2 <= found.high  # type: ignore[operator]
        for found in (median_interval([1.2 * math.exp(rng.gauss(0.0, 0.04)) for _ in range(n)])
                      for _ in range(trials))
    )
    promised = stats.coverage(n, stats.interval_rank(n) or 0)
    assert promised >= 0.90
    assert held / trials == pytest.approx(promised, abs=0.015)


def test_the_verdict_says_met_only_when_the_whole_interval_clears_the_goal() -> None:
    def interval(low: float, high: float) -> MedianInterval:
        return MedianInterval((low + high) / 2, low, high, 5, 0.9375)

    assert verdict(interval(0.99, 1.03), 0.98) == stats.MET
    assert verdict(interval(0.98, 1.03), 0.98) == stats.MET, "a bound on the goal reaches it"
    assert verdict(interval(0.97, 1.03), 0.98) == stats.UNSETTLED
    assert verdict(interval(0.90, 0.979), 0.98) == stats.NOT_MET
    assert verdict(median_interval([1.5, 1.6, 1.7]), 1.0) == stats.UNSETTLED, "no interval from 3 pairs"


def test_pairs_to_settle_matches_the_normal_theory_for_a_known_spread() -> None:
    # Log ratios N(log 1.0, 0.03); goal 0.99: distance log(1/0.99), so N = (1.645 * 1.2533 * 0.03 / 0.01005)^2 = 38.
    rng = random.Random(7)
    observed = [math.exp(rng.gauss(0.0, 0.03)) for _ in range(2000)]
    theory = (1.6448536 * math.sqrt(math.pi / 2) * 0.03 / math.log(1 / 0.99)) ** 2
    assert theory == pytest.approx(37.9, abs=0.1)
    assert stats.log_spread(observed) == pytest.approx(0.03, rel=0.05)
    # The estimate takes the distance from the observed median (within about 0.001 of the true one here).
    distance = abs(math.log(median_interval(observed).median / 0.99))
    assert pairs_to_settle(observed, 0.99) == pytest.approx(theory * (math.log(1 / 0.99) / distance) ** 2, rel=0.1)
    assert pairs_to_settle([1.0, 1.1, 0.9, 1.05, 0.95], 1.0) is None, "a median on the goal is never settled"
    assert pairs_to_settle([2.0, 2.01, 1.99, 2.02, 1.98], 1.0) == stats.MIN_PAIRS, "never fewer than an interval needs"


def test_running_the_estimated_pairs_settles_about_half_the_time_and_four_times_as_many_almost_always() -> None:
    # The estimate is where the expected half-width equals the distance to the goal (even odds); 4x halves it.
    rng = random.Random(11)
    truth_sigma, goal = 0.03, 0.99

    def experiment(n: int) -> str:
        return verdict(median_interval([math.exp(rng.gauss(0.0, truth_sigma)) for _ in range(n)]), goal)

    estimate = pairs_to_settle([math.exp(rng.gauss(0.0, truth_sigma)) for _ in range(4000)], goal)
    assert estimate is not None
    at_estimate = sum(experiment(estimate) == stats.MET for _ in range(1000)) / 1000
    at_four = sum(experiment(4 * estimate) == stats.MET for _ in range(1000)) / 1000
    assert 0.35 <= at_estimate <= 0.75
    assert at_four >= 0.90
