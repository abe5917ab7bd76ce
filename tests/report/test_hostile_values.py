"""Values no real run produces, read and written by the report without failing: the unit side of
tests/reliability/test_report_survival.py."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

import pytest

from benchbase.errors import BenchbaseError
from benchbase.report import formatting
from benchbase.report.loading import load_runs
from benchbase.report.output import write_output
from benchbase.report.render_csv import inert_row
from benchbase.report.render_markdown import _code, markdown_text


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1e308, "1.00e+308"), (-1e308, "-1.00e+308"), (1e15, "1.00e+15"), (math.inf, "inf"), (-math.inf, "-inf"),
     (math.nan, "nan"), (5e-324, "0.00")],
)
def test_fixed_prints_any_float(value, expected):
    assert formatting.fixed(value, 2) == expected


@pytest.mark.parametrize("value", [1e308, -1e308, math.inf, math.nan, 5e-324, 999_999_999_999_999.0])
def test_every_formatter_returns_short_text_for_any_float(value):
    texts = [formatting.throughput(value), formatting.metric(value), formatting.per_device(value, 8, 1),
             formatting.ratio(value), formatting.seconds(value), formatting.percent(value), formatting.flops(value),
             formatting.count(value)]
    assert all(isinstance(text, str) and len(text) <= 32 for text in texts), texts


def test_round_half_up_holds_every_digit_of_the_largest_double():
    assert formatting.round_half_up(1e308, 4) == Decimal("1E+308")
    assert formatting.significant(123456789012.0) == "123456789012"


def test_numbers_beyond_the_summary_range_are_read_as_no_measurement(tmp_path: Path, summary_for):
    text = json.dumps(summary_for("big")).replace('"p_train": 47.9', '"p_train": 1e308')
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "summary.json").write_text(text)
    (run,) = load_runs([tmp_path]).runs
    assert run.p_train is None and run.p_core == 54.9


def test_csv_prefixes_formula_text_and_keeps_numbers():
    cells = ["=1+1", "@SUM(A1)", "+cmd", "-2+3", "\tx", "-1.5", "+3", -4.0, "plain", ""]
    assert inert_row(cells) == ["'=1+1", "'@SUM(A1)", "'+cmd", "'-2+3", "\\x09x", "-1.5", "+3", -4.0, "plain", ""]


def test_markdown_escapes_html_and_pipes_and_fences_backticks():
    assert markdown_text("a|b <script>&amp;\nc") == "a\\|b &lt;script&gt;&amp;amp;\\\\x0ac"
    assert _code("/runs/a``b") == "``` /runs/a``b ```"
    assert _code("/runs/plain") == "`/runs/plain`"


def test_write_output_refuses_a_folder_and_a_missing_parent(tmp_path: Path):
    with pytest.raises(BenchbaseError, match="is a folder; name a file"):
        write_output(tmp_path, "x")
    with pytest.raises(BenchbaseError, match="the folder of --output .* does not exist"):
        write_output(tmp_path / "no" / "r.md", "x")
    write_output(tmp_path / "r.md", "text")
    assert (tmp_path / "r.md").read_text() == "text"
