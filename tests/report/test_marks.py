"""Marks on figures measured under conditions that make them less than clean, on doctored records.

A contended or oversubscribed run puts ``†`` on every figure that depends on training speed, in every format and in
``--compare``, and an official configuration measured so loses its clean verdict (``[contended]``); a power mean from
too few telemetry samples puts ``‡`` on Power, energy per sample and samples per joule; a quiet record carries none.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from benchbase.report import build_report, compare_selected, load_runs, render, render_comparison
from benchbase.report.columns import CONFIGURATION, CONTENDED_ROW, PERFORMANCE, POWER, SAMPLES_PER_JOULE, TFLOPS
from benchbase.report.marks import CONTENDED, FEW_SAMPLES

FORMATS = ("table", "md", "json", "csv", "html")
QUIET = {"hostname": "bench-01", "cpus": 64, "ranks": 1, "threads": 64, "oversubscribed": False,
         "others_cpu_share": 0.01, "contended": False}
CONTENDED_HOST = {**QUIET, "others_cpu_share": 0.42, "contended": True}
OVERSUBSCRIBED_HOST = {**QUIET, "threads": 96, "oversubscribed": True}
POWERED = {"power": {"mean_w_per_device": 200.0, "energy_per_sample_j": 4.0, "source": "telemetry"},
           "mfu": 0.00002, "peak_flops_per_device": 1.0e12}


def _report(runs_dir, detail=True):
    return build_report(load_runs([runs_dir]), detail=detail)


def _every_format(runs_dir):
    report = _report(runs_dir)
    return {fmt: render(report, fmt) for fmt in FORMATS}


def _as(fmt, text):
    """``text`` as format ``fmt`` writes it: the JSON forms escape every non-ASCII character."""
    return json.dumps(text)[1:-1] if fmt == "json" else text


def test_a_quiet_record_carries_no_mark_in_any_format(runs_dir, write_run):
    write_run(runs_dir, "quiet", host=QUIET, **POWERED)
    for fmt, text in _every_format(runs_dir).items():
        for mark in (CONTENDED, FEW_SAMPLES, CONTENDED_ROW):
            assert _as(fmt, mark) not in text, fmt
    (row,) = _report(runs_dir).rows
    assert row.values["contended"] is False and row.values["official_clean"] is True


@pytest.mark.parametrize("host", [CONTENDED_HOST, OVERSUBSCRIBED_HOST], ids=["contended", "oversubscribed"])
def test_a_contended_run_marks_every_speed_figure_in_every_format(runs_dir, write_run, host):
    write_run(runs_dir, "busy", host=host, time_to_target_s=43.3, **POWERED)
    report = _report(runs_dir)
    (row,) = report.rows
    assert row.cells[PERFORMANCE] == f"47.9 {CONTENDED}"
    assert row.efficiency[TFLOPS].endswith(CONTENDED) and row.efficiency[SAMPLES_PER_JOULE].endswith(CONTENDED)
    detail = dict(row.detail)
    for label in ("p_train", "p_core", "p_whole", "FPS", "Time to target", "MFU", "Energy per sample"):
        assert detail[label].endswith(CONTENDED), label
    assert not row.cells[POWER].endswith(CONTENDED)  # watts do not depend on how fast training went
    assert "not a clean official result" in detail["Case"]
    assert row.cells[CONFIGURATION].startswith(CONTENDED_ROW)
    assert any(line.startswith(f"{CONTENDED} ") for line in report.legend)
    for fmt, text in _every_format(runs_dir).items():
        assert _as(fmt, f"47.9 {CONTENDED}") in text, fmt
        assert CONTENDED_ROW in text, fmt
    (line,) = csv.DictReader(io.StringIO(render(report, "csv")))
    assert (line["contended"], line["official_clean"]) == ("true", "false")
    assert line[PERFORMANCE] == f"47.9 {CONTENDED}"
    document = json.loads(render(report, "json"))
    assert document["rows"][0]["values"]["contended"] is True
    assert document["efficiency"]["rows"][0][TFLOPS].endswith(CONTENDED)


def test_a_row_of_repeats_is_marked_when_any_repeat_is(runs_dir, write_run):
    write_run(runs_dir, "r1", repeat_group="g", repeat_index=0, host=QUIET)
    write_run(runs_dir, "r2", repeat_group="g", repeat_index=1, host=CONTENDED_HOST,
              throughput={"p_train": 52.1})
    (row,) = _report(runs_dir).rows
    assert row.cells[PERFORMANCE] == f"50.0 {CONTENDED}"  # the mean of 47.9 and 52.1 holds the contended repeat


def test_an_unofficial_contended_row_keeps_its_unofficial_marker_and_the_figure_marks(runs_dir, write_run):
    write_run(runs_dir, "tuned", official=False, host=CONTENDED_HOST)
    (row,) = _report(runs_dir).rows
    assert row.cells[CONFIGURATION].startswith("[unofficial]") and CONTENDED_ROW not in row.cells[CONFIGURATION]
    assert row.cells[PERFORMANCE].endswith(CONTENDED)
    assert row.values["official_clean"] is False


def test_a_power_mean_from_too_few_samples_marks_power_energy_and_samples_per_joule(runs_dir, write_run):
    write_run(runs_dir, "sparse", host=QUIET, power={**POWERED["power"], "too_few_samples": True})
    report = _report(runs_dir)
    (row,) = report.rows
    assert row.cells[POWER] == f"200*1 {FEW_SAMPLES}"
    assert row.efficiency[SAMPLES_PER_JOULE] == f"0.250 {FEW_SAMPLES}"
    assert dict(row.detail)["Energy per sample"] == f"4.00 J {FEW_SAMPLES}"
    assert not row.cells[PERFORMANCE].endswith(FEW_SAMPLES)
    assert any(line.startswith(f"{FEW_SAMPLES} ") for line in report.legend)
    for fmt, text in _every_format(runs_dir).items():
        assert _as(fmt, f"200*1 {FEW_SAMPLES}") in text, fmt
    (line,) = csv.DictReader(io.StringIO(render(report, "csv")))
    assert line["power_too_few_samples"] == "true"


def test_enough_power_samples_carry_no_mark(runs_dir, write_run):
    write_run(runs_dir, "dense", host=QUIET, power={**POWERED["power"], "too_few_samples": False})
    (row,) = _report(runs_dir).rows
    assert row.cells[POWER] == "200*1" and row.efficiency[SAMPLES_PER_JOULE] == "0.250"


def test_compare_marks_the_contended_side_only_in_every_format(runs_dir, write_run):
    write_run(runs_dir, "busy", host=CONTENDED_HOST, **POWERED)
    write_run(runs_dir, "quiet", host=QUIET, **POWERED)
    comparison = compare_selected(load_runs([runs_dir]), "busy", "quiet")
    lines = {line.label: line for line in comparison.lines}
    assert lines[PERFORMANCE].a == f"47.9 {CONTENDED}" and lines[PERFORMANCE].b == "47.9"
    assert lines[PERFORMANCE].a_marks == ("contended",) and lines[PERFORMANCE].b_marks == ()
    assert lines[TFLOPS].a_marks == ("contended",)
    assert comparison.legend and comparison.legend[0].startswith(CONTENDED)
    for fmt in ("table", "md", "json", "csv"):
        text = render_comparison(comparison, fmt)
        assert _as(fmt, f"47.9 {CONTENDED}") in text, fmt
    document = json.loads(render_comparison(comparison, "json"))
    performance = next(line for line in document["lines"] if line["label"] == PERFORMANCE)
    assert (performance["a_marks"], performance["b_marks"]) == (["contended"], [])
    rows = {row["metric"]: row for row in csv.DictReader(io.StringIO(render_comparison(comparison, "csv")))}
    assert (rows[PERFORMANCE]["a_marks"], rows[PERFORMANCE]["b_marks"]) == ("contended", "")


def test_records_made_before_the_fields_existed_carry_no_mark(runs_dir, write_run):
    write_run(runs_dir, "old")  # host without others_cpu_share/contended, power without too_few_samples
    (row,) = _report(runs_dir).rows
    assert row.values["contended"] is False and row.values["power_too_few_samples"] is False
