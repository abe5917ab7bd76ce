"""How numbers print: the rounding rules documented in benchbase/report/formatting.py."""

from __future__ import annotations

from benchbase.report import formatting


def test_throughput_keeps_three_significant_figures_but_every_integer_digit():
    assert [formatting.throughput(v) for v in (357.4, 1059.3, 47.93, 5.123, 0.51234, 9.996, 999.6)] == [
        "357", "1059", "47.9", "5.12", "0.512", "10.0", "1000"]


def test_metrics_print_two_to_four_decimals():
    assert [formatting.metric(v) for v in (0.91, 0.912, 0.91234, 0.9, 1.0, 0.91005)] == [
        "0.91", "0.912", "0.9123", "0.90", "1.00", "0.9101"]


def test_rounding_is_half_up_on_the_decimal_a_reader_sees():
    assert formatting.fixed(20.65, 1) == "20.7"  # binary 20.65 is 20.6499..., a reader expects 20.7
    assert formatting.per_device(156.5, 8, 0) == "157*8"
    assert formatting.per_device(20.6, 8, 1) == "20.6*8"
    assert formatting.fixed(-0.001, 2) == "0.00"


def test_stability_is_the_fraction_with_the_counts_it_rests_on():
    assert formatting.fraction(3, 3) == "1 (3/3)"
    assert formatting.fraction(1, 1) == "1 (1/1)"
    assert formatting.fraction(2, 3) == "0.67 (2/3)"
    assert formatting.fraction(0, 2) == "0 (0/2)"


def test_units_and_counts():
    assert formatting.flops(312e12) == "312 TFLOP/s"
    assert formatting.count(869632) == "869,632"
    assert formatting.seconds(3558.36) == "3558.36 s"
    assert formatting.percent(0.0673) == "6.7%"
    assert formatting.not_available("no 1x1 run") == "n/a (no 1x1 run)"
