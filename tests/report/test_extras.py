"""A case's evaluation extras in every report form, whatever their names, from schema-2 records and from schema-1
records (whose one extra was ``final_token_accuracy``, and whose eval events carried extras flat in the metadata)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from benchbase.report import build_report, compare, load_runs, render
from benchbase.report.series import read_series

TWO_EXTRAS = {"token_accuracy": 0.55, "loss": 2.25}


def _schema_1(folder: Path) -> Path:
    """Rewrite a synthetic schema-2 record as an older benchbase wrote it: summary schema 1, extras flat in events."""
    summary = json.loads((folder / "summary.json").read_text())
    extras = summary.pop("final_extras")
    del summary["initial_extras"]
    summary.update(schema=1, final_token_accuracy=extras["token_accuracy"])
    (folder / "summary.json").write_text(json.dumps(summary))
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    for event in events:
        if event["key"] == "eval":
            event["metadata"].update(event["metadata"].pop("extras"))
    (folder / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    return folder


@pytest.fixture
def old_run(runs_dir, write_run):
    return _schema_1(write_run(runs_dir, "old", final_extras={"token_accuracy": 0.51}))


def test_a_schema_1_record_reads_its_token_accuracy_as_an_extra_and_renders(old_run, runs_dir):
    (run,) = load_runs([runs_dir]).runs
    assert run.final_extras == {"token_accuracy": 0.51}
    report = build_report(load_runs([runs_dir]), detail=True)
    assert dict(report.rows[0].detail)["Token accuracy"] == "0.51"
    assert json.loads(render(report, "json"))["rows"][0]["values"]["final_extras"] == {"token_accuracy": 0.51}
    assert "| Token accuracy | 0.51 |" in render(report, "md")
    (line,) = csv.DictReader(io.StringIO(render(report, "csv")))
    assert line["final_extras.token_accuracy"] == "0.51"
    series = read_series(run)  # the flat form of its eval events
    assert list(series.extras) == ["token_accuracy"] and len(series.extras["token_accuracy"]) == len(series.metric)
    html = render(report, "html")
    assert "token accuracy" in html and html.count("<svg") == 6


def test_a_schema_2_record_shows_every_extra_by_name(runs_dir, write_run):
    write_run(runs_dir, "new", final_extras=TWO_EXTRAS)
    report = build_report(load_runs([runs_dir]), detail=True)
    detail = dict(report.rows[0].detail)
    assert (detail["Token accuracy"], detail["Loss"]) == ("0.55", "2.25")
    labels = [label for label, _ in report.rows[0].detail]
    assert labels.index("Token accuracy") == labels.index("Metric") + 1
    assert json.loads(render(report, "json"))["rows"][0]["values"]["final_extras"] == TWO_EXTRAS
    header = next(csv.reader(io.StringIO(render(report, "csv"))))
    assert header[-3:] == ["run_ids", "final_extras.token_accuracy", "final_extras.loss"]


def test_extras_in_range_share_the_score_plot_and_others_get_their_own(runs_dir, write_run):
    folder = write_run(runs_dir, "new", final_extras=TWO_EXTRAS)
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    for event in events:
        if event["key"] == "eval":
            event["metadata"]["extras"]["loss"] = 3.0 - event["step"] / 200
    (folder / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    html = render(build_report(load_runs([runs_dir])), "html")
    assert html.count("<svg") == 7
    assert ">Evaluation: loss</text>" in html and ">Evaluation: embedding_average</text>" in html


def test_a_comparison_pairs_extras_by_name_even_when_one_side_lacks_one(old_run, runs_dir, write_run):
    write_run(runs_dir, "new", final_extras=TWO_EXTRAS, per_device_batch=8, global_batch=8)
    runs = {run.run_id: run for run in load_runs([runs_dir]).runs}
    lines = {line.label: line for line in compare([runs["old"]], [runs["new"]]).lines}
    assert (lines["Token accuracy"].a, lines["Token accuracy"].b) == ("0.51", "0.55")
    assert lines["Token accuracy"].ratio == pytest.approx(0.55 / 0.51)
    assert lines["Token accuracy"].better == ""  # the records do not say which way an extra is better
    assert (lines["Loss"].a, lines["Loss"].b, lines["Loss"].ratio) == ("n/a (not recorded)", "2.25", None)


def test_an_extra_named_like_a_report_line_keeps_a_label_of_its_own(runs_dir, write_run):
    write_run(runs_dir, "odd", final_extras={"metric": 0.3, "performance": 7.0})
    (row,) = build_report(load_runs([runs_dir]), detail=True).rows
    detail = dict(row.detail)
    assert detail["Metric"].endswith("(before training → at stop)")
    assert (detail["Metric (case extra)"], detail["Performance (case extra)"]) == ("0.30", "7.00")
