"""JSON and CSV carry the same numbers as the table, unrounded and round-trippable (synthetic records in tmp_path)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from benchbase.errors import BenchbaseError
from benchbase.report import FORMATS, build_report, load_runs, render, render_chunks
from benchbase.report.columns import STANDARD_COLUMNS
from benchbase.report.render_csv import CSV_COLUMNS
from benchbase.report.table import VALUE_NAMES


@pytest.fixture
def report(runs_dir, write_run):
    write_run(runs_dir, "a1", repeat_group="rg", throughput={"p_train": 40.123456789},
              power={"mean_w_per_device": 101.25, "source": "nvml"})
    write_run(runs_dir, "a2", repeat_group="rg", repeat_index=1, throughput={"p_train": 44.0},
              power={"mean_w_per_device": 110.0, "source": "nvml"})
    write_run(runs_dir, "b1", nproc_per_node=2, world_size=2, global_batch=32, throughput={"p_train": 80.5})
    (runs_dir / "broken").mkdir()
    (runs_dir / "broken" / "summary.json").write_text("{")
    return build_report(load_runs([runs_dir]), reference=True)


def test_json_document_is_versioned_and_round_trips_every_number(report):
    document = json.loads(render(report, "json"))
    assert document["schema"] == "benchbase.report/2"
    assert document["columns"] == list(STANDARD_COLUMNS)
    assert len(document["rows"]) == len(report.rows)
    for row, data in zip(report.rows, document["rows"]):
        assert data["kind"] == "measured"
        assert data["cells"] == dict(row.cells)
        assert data["values"] == dict(row.values)
        assert data["group"] == row.key.as_dict()
        assert [run["run_id"] for run in data["runs"]] == [run.run_id for run in row.runs]
    first = document["rows"][0]
    assert first["values"]["p_train"] == (40.123456789 + 44.0) / 2
    assert first["values"]["power_w_per_device"] == 105.625
    assert first["cells"]["Power (W)"] == "106*1"  # 105.625 rounds half-up to 106
    assert document["skipped"] == [
        {"path": str(report.skipped[0].path), "reason": report.skipped[0].reason}
    ]
    assert {ref["kind"] for ref in document["references"]} == {"published"}


def test_csv_has_the_standard_columns_then_machine_readable_ones_and_round_trips(report):
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert tuple(rows[0]) == (*CSV_COLUMNS, "final_extras.token_accuracy")  # the case's extras come last
    assert CSV_COLUMNS[: len(STANDARD_COLUMNS)] == STANDARD_COLUMNS
    measured = [line for line in rows if line["kind"] == "measured"]
    assert len(measured) == len(report.rows)
    for row, line in zip(report.rows, measured):
        assert {column: line[column] for column in STANDARD_COLUMNS} == dict(row.cells)
        for name in VALUE_NAMES:
            value = row.values[name]
            if value is None:
                assert line[name] == ""
            elif isinstance(value, bool):
                assert line[name] == str(value).lower()
            elif isinstance(value, str):
                assert line[name] == value
            else:
                assert float(line[name]) == value
        assert float(line["final_extras.token_accuracy"]) == row.values["final_extras"]["token_accuracy"]
        assert line["official"] == "true"
        assert int(line["world_size"]) == row.key.world_size
    published = [line for line in rows if line["kind"] == "published"]
    assert len(published) == len(report.references)
    assert all(line["Configuration"].startswith("[published] ") for line in published)
    assert all(line["p_train"] == "" for line in published)


def test_every_format_renders_and_an_unknown_one_names_the_choices(report):
    for fmt in FORMATS:
        assert render(report, fmt).strip()
    with pytest.raises(BenchbaseError, match="unknown report format 'xml'; use one of table, md, json, csv, html"):
        render(report, "xml")


def test_skipped_records_are_listed_in_the_human_formats(report):
    assert "broken" in render(report, "md") and "not valid JSON" in render(report, "md")
    assert "not valid JSON" in render(report, "table")
    assert "not valid JSON" in render(report, "html")


def test_an_empty_report_still_renders_in_every_format(tmp_path):
    empty = build_report(load_runs([tmp_path]))
    assert render(empty, "md").splitlines()[1] == "|---|---|---|---|---|---|---|---|"
    assert json.loads(render(empty, "json"))["rows"] == []
    assert "no usable run records" in render(empty, "table")
    assert "No usable run records." in render(empty, "html")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_written_in_pieces_is_the_same_text(report, fmt):
    """`--output` and the terminal take the report a piece at a time (an HTML page a run's article at a time, so a
    page of thousands of runs is never held whole); the pieces make exactly the text of `render`."""
    pieces = list(render_chunks(report, fmt))
    assert "".join(pieces) == render(report, fmt)
    if fmt == "html":
        assert len(pieces) > sum(len(row.runs) for row in report.rows)  # at least a piece per run
