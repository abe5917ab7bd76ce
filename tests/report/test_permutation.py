"""The gate's permutation test: exact counts over every split of small groups, a fixed-seed sample past them."""

from __future__ import annotations

import math

import pytest

from benchbase.report.permutation import EXACT_SPLITS, one_sided_test, smallest_p_value


def test_three_against_three_fully_separated_is_the_one_extreme_split_in_twenty():
    result = one_sided_test(high=[10.0, 11.0, 12.0], low=[5.0, 6.0, 7.0])
    assert (result.p_value, result.splits, result.exact) == (pytest.approx(1 / 20), 20, True)
    assert result.smallest_p == pytest.approx(1 / 20)


def test_groups_drawn_from_one_population_are_not_significant():
    result = one_sided_test(high=[10.0, 12.0, 11.0], low=[11.5, 10.5, 11.0])
    assert result.p_value > 0.3


def test_the_direction_matters_a_group_below_the_other_is_never_significant():
    assert one_sided_test(high=[5.0, 6.0, 7.0], low=[10.0, 11.0, 12.0]).p_value == 1.0


def test_equal_values_tie_and_give_a_p_value_of_one():
    assert one_sided_test(high=[3.0, 3.0], low=[3.0, 3.0]).p_value == 1.0


def test_too_small_groups_can_never_reach_five_percent():
    assert smallest_p_value(2, 2) == pytest.approx(1 / 6)
    assert smallest_p_value(1, 1) == 0.5
    assert smallest_p_value(3, 3) <= 0.05


def test_large_groups_are_sampled_with_a_fixed_seed_and_the_same_answer_each_time():
    high = [float(value) for value in range(20, 32)]
    low = [float(value) for value in range(10, 22)]
    assert math.comb(24, 12) > EXACT_SPLITS
    first, second = one_sided_test(high, low), one_sided_test(high, low)
    assert not first.exact and first == second
    assert 0 < first.p_value < 0.001
