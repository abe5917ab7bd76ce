"""The regression gate of ``--compare A B --fail-if``: thresholds as users write them, and verdicts on synthetic
repeat groups (the real slowed runs are in tests/cli/test_regression_gate.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchbase.errors import BenchbaseError
from benchbase.report import judge, load_runs, parse_threshold
from benchbase.report.render_gate import exit_code, verdict_line


def _side(runs_dir, write_run, name, p_train_values, **fields):
    side = runs_dir / name
    side.mkdir()
    for index, value in enumerate(p_train_values):
        write_run(side, f"{name}-{index}", throughput={"p_train": value}, **fields)
    return load_runs([side]).runs


def test_a_threshold_is_a_figure_and_a_signed_change_in_percent_or_in_the_figure_unit():
    threshold = parse_threshold("p_train:-5%")
    assert (threshold.figure, threshold.amount, threshold.relative, threshold.better) == ("p_train", -5, True, "higher")
    assert parse_threshold("time_to_target_s:+10%").better == "lower"
    assert parse_threshold("time_to_target_s:30").limit(100.0) == 130.0
    assert parse_threshold("p_train:-5%").limit(100.0) == pytest.approx(95.0)


@pytest.mark.parametrize(("text", "message"), [
    ("p_train", "has no figure"),
    ("speed:-5%", "not a figure the gate can test"),
    ("p_train:-five%", "is not a number or a percentage"),
    ("p_train:nan", "is no possible change"),
    ("p_train:+5%", "p_train is higher-is-better, so getting worse is a fall"),
    ("time_to_target_s:-10%", "write the allowed change with its sign: time_to_target_s:\\+10%"),
])
def test_a_threshold_that_cannot_be_read_is_refused_with_the_fix(text, message):
    with pytest.raises(BenchbaseError, match=message):
        parse_threshold(text)


def test_a_group_slower_beyond_the_threshold_in_every_repeat_fails_and_names_the_test(runs_dir, write_run):
    a = _side(runs_dir, write_run, "a", [100.0, 102.0, 98.0])
    b = _side(runs_dir, write_run, "b", [80.0, 82.0, 79.0])
    verdict = judge(parse_threshold("p_train:-5%"), a, b)
    assert verdict.outcome == "FAIL" and exit_code([verdict]) == 1
    assert verdict.test.p_value == pytest.approx(0.05)
    line = verdict_line(verdict)
    assert line.startswith("gate p_train:-5%: FAIL: B's p_train is 19.7% lower than A's (mean 80.3 against 100")
    assert "one-sided permutation test of the difference in means" in line and "p = 0.050 <= 0.05" in line


def test_a_slowdown_within_the_threshold_passes(runs_dir, write_run):
    a = _side(runs_dir, write_run, "a", [100.0, 102.0, 98.0])
    b = _side(runs_dir, write_run, "b", [97.0, 98.0, 96.0])
    verdict = judge(parse_threshold("p_train:-5%"), a, b)
    assert verdict.outcome == "pass" and exit_code([verdict]) == 0
    assert "within the allowed -5%" in verdict_line(verdict)


def test_a_slowdown_beyond_the_threshold_that_the_repeats_do_not_support_passes_as_not_significant(
        runs_dir, write_run):
    a = _side(runs_dir, write_run, "a", [100.0, 60.0, 101.0])
    b = _side(runs_dir, write_run, "b", [70.0, 99.0, 75.0])
    verdict = judge(parse_threshold("p_train:-5%"), a, b)
    assert verdict.beyond and verdict.outcome == "pass"
    assert "but not significant" in verdict_line(verdict) and "> 0.05" in verdict_line(verdict)


def test_one_run_a_side_beyond_the_threshold_is_undecided_and_says_how_many_runs_are_needed(runs_dir, write_run):
    a = _side(runs_dir, write_run, "a", [100.0])
    b = _side(runs_dir, write_run, "b", [50.0])
    verdict = judge(parse_threshold("p_train:-5%"), a, b)
    assert verdict.outcome == "undecided" and exit_code([verdict]) == 2
    assert "smallest possible p-value is 0.50, above 0.05; record at least 3 runs per side (--repeat 3)" in (
        verdict_line(verdict))


def test_one_run_a_side_within_the_threshold_passes_and_says_the_pass_rests_on_the_change_alone(
        runs_dir, write_run):
    verdict = judge(parse_threshold("p_train:-5%"), _side(runs_dir, write_run, "a", [100.0]),
                    _side(runs_dir, write_run, "b", [101.0]))
    assert verdict.outcome == "pass"
    assert "so this pass rests on the change alone" in verdict_line(verdict)


def test_a_lower_is_better_figure_fails_when_b_rises(runs_dir, write_run):
    a = _side(runs_dir, write_run, "a", [100.0] * 3, time_to_target_s=10.0)
    b = _side(runs_dir, write_run, "b", [100.0] * 3, time_to_target_s=10.0)
    assert judge(parse_threshold("time_to_target_s:+10%"), a, b).outcome == "pass"
    slow = [_side(runs_dir, write_run, f"slow{i}", [100.0], time_to_target_s=value)[0]
            for i, value in enumerate((14.0, 15.0, 16.0))]
    fast = [_side(runs_dir, write_run, f"fast{i}", [100.0], time_to_target_s=value)[0]
            for i, value in enumerate((10.0, 10.5, 9.5))]
    assert judge(parse_threshold("time_to_target_s:+10%"), fast, slow).outcome == "FAIL"
    assert judge(parse_threshold("time_to_target_s:+10%"), slow, fast).outcome == "pass"


def test_a_side_without_the_figure_is_undecided_with_the_reason(runs_dir, write_run):
    a = _side(runs_dir, write_run, "a", [100.0] * 3)
    b = _side(runs_dir, write_run, "b", [100.0] * 3, time_to_target_s=None)
    verdict = judge(parse_threshold("time_to_target_s:+10%"), b, a)
    assert verdict.outcome == "undecided"
    assert "no run of side A recorded time_to_target_s" in verdict_line(verdict)


def test_the_command_compares_two_run_folders_where_there_is_no_reports_runs(runs_dir, write_run, tmp_path):
    _side(runs_dir, write_run, "a", [100.0, 102.0, 98.0])
    _side(runs_dir, write_run, "b", [80.0, 82.0, 79.0])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def report(*args):
        return subprocess.run([sys.executable, "-c", "from benchbase.cli import main; main()", "report", "--compare",
                               str(runs_dir / "a"), str(runs_dir / "b"), *args],
                              cwd=elsewhere, capture_output=True, text=True, timeout=120)

    compared = report("--format", "md")
    assert compared.returncode == 0, compared.stderr
    assert "| Performance | 100 | 80.3 |" in compared.stdout
    gated = report("--fail-if", "p_train:-5%", "--fail-if", "p_core:-50%")
    assert gated.returncode == 1
    assert [line.split(": ")[1] for line in gated.stderr.strip().splitlines()] == ["FAIL", "pass"]
    assert not (elsewhere / "reports").exists()

    as_json = report("--format", "json", "--fail-if", "p_train:-5%", "--fail-if", "p_core:-50%")
    assert as_json.returncode == 1
    gate = json.loads(as_json.stdout)["gate"]
    assert gate["exit_code"] == 1 and gate["alpha"] == 0.05
    assert [(v["threshold"], v["outcome"]) for v in gate["verdicts"]] == [("p_train:-5%", "FAIL"), ("p_core:-50%", "pass")]
    failed = gate["verdicts"][0]
    assert failed["a_values"] == [100.0, 102.0, 98.0] and failed["b_values"] == [80.0, 82.0, 79.0]
    assert failed["p_value"] == pytest.approx(0.05) and failed["splits"] == 20 and failed["exact"] is True
    assert failed["change"] == pytest.approx(241 / 3 / 100 - 1) and failed["beyond"] is True
    assert [v["line"] for v in gate["verdicts"]] == as_json.stderr.strip().splitlines()
