"""The paired measurement helper and the result block every benchmark prints."""

from __future__ import annotations

import pytest

from benchbase.errors import BenchbaseError
from benchmarks.result import Result
from benchmarks.timing import Comparison, Series, compare, interleaved


def test_arms_alternate_which_runs_first_and_warmup_rounds_are_not_recorded() -> None:
    calls: list[str] = []
    values = iter(range(100))

    def arm(name: str):
        def run() -> float:
            calls.append(name)
            return float(next(values))
        return run

    series = interleaved({"a": arm("a"), "b": arm("b")}, repeats=3, warmup=1)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert series["a"].values == (3.0, 4.0, 7.0)
    assert series["b"].values == (2.0, 5.0, 6.0)


def test_three_arms_rotate_so_each_takes_every_position() -> None:
    calls: list[str] = []
    arms = {name: (lambda name=name: calls.append(name) or 1.0) for name in "xyz"}
    interleaved(arms, repeats=3)
    assert calls == list("xyz" "yzx" "zxy")


def test_the_ratio_is_the_median_of_the_pair_ratios_so_one_disturbed_pair_does_not_move_it() -> None:
    comparison = Comparison(Series("base", (10.0, 10.0, 1.0)), Series("cand", (20.0, 21.0, 19.0)), "items/s")
    assert comparison.pair_ratios == pytest.approx((2.0, 2.1, 19.0))
    assert comparison.ratio == pytest.approx(2.1)
    assert not comparison.interval.defined, "three pairs give no 90% interval"


def test_a_drift_that_slows_both_arms_alike_cancels_in_the_pair_ratios() -> None:
    # The machine gets slower pair after pair; within a pair the candidate is always 5% faster.
    drift = [1.0, 0.7, 0.5, 0.9, 0.6, 0.8, 0.4]
    comparison = Comparison(Series("base", tuple(100 * d for d in drift)),
                            Series("cand", tuple(105 * d for d in drift)), "items/s")
    assert comparison.interval.low == pytest.approx(1.05) and comparison.interval.high == pytest.approx(1.05)
    assert comparison.verdict(1.04) == "met" and comparison.verdict(1.06) == "NOT met"


def test_compare_pairs_the_two_arms_in_baseline_candidate_order() -> None:
    comparison = compare(("slow", lambda: 2.0), ("fast", lambda: 5.0), unit="steps/s", repeats=2)
    assert (comparison.baseline.name, comparison.candidate.name) == ("slow", "fast")
    assert comparison.ratio == pytest.approx(2.5)


def test_no_rounds_is_a_user_error_that_says_how_many_to_use() -> None:
    with pytest.raises(BenchbaseError, match="at least one round"):
        interleaved({"a": lambda: 1.0}, repeats=0)
    with pytest.raises(BenchbaseError, match="no fewer than the minimum"):
        interleaved({"a": lambda: 1.0}, repeats=2, min_repeats=3)


def test_result_block_shows_both_medians_the_pair_ratios_the_interval_and_the_verdict() -> None:
    comparison = Comparison(Series("naive", (100.0, 110.0, 105.0, 100.0, 98.0)),
                            Series("parallel", (190.0, 200.0, 200.0, 195.0, 190.0)), "lines/s")
    result = Result(3, "Data preparation", 1.8, comparison, notes=("projected: 40 s",))
    text = "\n".join(result.lines())
    assert result.met and result.verdict == "met" and result.pairs_to_settle() is None
    assert "naive: median 100 lines/s (5 pairs, 98.0 .. 110)" in text
    assert "pair ratios: 1.900 1.818 1.905 1.950 1.939" in text
    assert "median pair ratio 1.905, 90% interval 1.818 .. 1.950 (5 pairs, exact coverage 93.8%)" in text
    assert "goal >= 1.8: met" in text and text.endswith("   projected: 40 s")
    assert Result(3, "x", 2.0, comparison).verdict == "NOT met"


def test_an_unsettled_result_says_how_many_pairs_would_settle_it() -> None:
    comparison = Comparison(Series("bare", (100.0,) * 6), Series("ours", (97.0, 99.0, 101.0, 98.0, 100.5, 96.0)),
                            "samples/s")
    result = Result(1, "Harness", 0.98, comparison)
    assert result.verdict == "unsettled" and result.met is False
    needed = result.pairs_to_settle()
    assert needed is not None and needed > 6
    assert f"goal >= 0.98: unsettled; about {needed:,} pairs would settle it" in "\n".join(result.lines())
    few = Result(1, "Harness", 0.98, Comparison(Series("bare", (1.0, 1.0)), Series("ours", (2.0, 2.1)), "x/s"))
    assert few.verdict == "unsettled" and "no 90% interval from 2 pairs" in "\n".join(few.lines())


def test_a_skipped_result_says_why_and_has_no_verdict() -> None:
    result = Result(6, "GPU benchmark", 0.0, skipped="no CUDA device")
    assert result.met is None and result.verdict == "skipped"
    assert result.lines() == ["6. GPU benchmark", "   skipped: no CUDA device"]


def test_a_time_budget_stops_adding_rounds_but_never_below_the_minimum() -> None:
    now = [0.0]

    def ten_seconds() -> float:
        now[0] += 10.0
        return 1.0

    arms = {"a": ten_seconds, "b": ten_seconds}
    # Rounds take 20 s: after two (40 s) a third would end at 60 s, past the 45 s budget.
    assert len(interleaved(arms, repeats=5, min_repeats=2, budget_s=45.0, clock=lambda: now[0])["a"].values) == 2
    now[0] = 0.0
    assert len(interleaved(arms, repeats=5, min_repeats=3, budget_s=45.0, clock=lambda: now[0])["a"].values) == 3
    now[0] = 0.0
    assert len(interleaved(arms, repeats=5, min_repeats=2, budget_s=1000.0, clock=lambda: now[0])["a"].values) == 5
