"""The efficiency table under the standard one: MFU, achieved TFLOP/s per device and samples per joule, computed by
hand from doctored records, printed in significant figures, in every format."""

from __future__ import annotations

import csv
import io
import json

from benchbase.report import build_report, load_runs, render
from benchbase.report.columns import CONFIGURATION, EFFICIENCY_COLUMNS, MFU, POWER, SAMPLES_PER_JOULE, TFLOPS

#: 47.9 samples/s x 1.2e9 FLOPs per sample on one device: 5.748e10 FLOP/s = 0.05748 TFLOP/s.
P_TRAIN, FLOPS_PER_SAMPLE = 47.9, 1.2e9


def _row(runs_dir):
    (row,) = build_report(load_runs([runs_dir])).rows
    return row


def test_each_figure_is_computed_from_the_summary_and_printed_in_three_significant_figures(runs_dir, write_run):
    write_run(runs_dir, "one", mfu=0.00002, peak_flops_per_device=1.0e12,
              power={"mean_w_per_device": 120.0, "energy_per_sample_j": 2.5, "source": "telemetry"})
    row = _row(runs_dir)
    assert row.efficiency[MFU] == "0.00200%"  # not the 0.0% one decimal would print
    assert row.efficiency[TFLOPS] == "0.0575"
    assert row.efficiency[SAMPLES_PER_JOULE] == "0.400"
    assert row.values["achieved_flops_per_device"] == P_TRAIN * FLOPS_PER_SAMPLE
    assert row.values["samples_per_joule"] == 1 / 2.5
    assert dict(row.detail)["MFU"].startswith("0.00200% of 1.00 TFLOP/s per device")


def test_per_device_figures_divide_by_the_physical_devices_the_summary_counted(runs_dir, write_run):
    """Two ranks sharing one CPU are one device: FLOP/s per device and the Power cell count it once."""
    write_run(runs_dir, "shared", nproc_per_node=2, world_size=2, global_batch=32, devices=1,
              power={"mean_w_per_device": 105.0, "energy_per_sample_j": 2.0, "source": "telemetry"})
    row = _row(runs_dir)
    assert row.values["achieved_flops_per_device"] == P_TRAIN * FLOPS_PER_SAMPLE
    assert row.values["devices"] == 1
    assert row.cells[POWER] == "105*1"


def test_without_the_devices_field_the_world_size_is_the_divisor(runs_dir, write_run):
    write_run(runs_dir, "older", nproc_per_node=2, world_size=2, global_batch=32)
    assert _row(runs_dir).values["achieved_flops_per_device"] == P_TRAIN * FLOPS_PER_SAMPLE / 2


def test_a_missing_figure_says_why(runs_dir, write_run):
    write_run(runs_dir, "bare", flops_per_sample=None)
    row = _row(runs_dir)
    assert row.efficiency == {
        MFU: "n/a (the vendor declares no peak FLOP/s)",
        TFLOPS: "n/a (no FLOPs per sample)",
        SAMPLES_PER_JOULE: "n/a (no power sensor)",
    }


def test_every_format_shows_the_table_under_the_standard_one(runs_dir, write_run):
    write_run(runs_dir, "one", power={"mean_w_per_device": 120.0, "energy_per_sample_j": 2.5, "source": "telemetry"})
    report = build_report(load_runs([runs_dir]))
    text = render(report, "table")
    assert text.index("Efficiency") > text.index("Performance") and "0.0575" in text
    markdown = render(report, "md").splitlines()
    header = "| " + " | ".join((CONFIGURATION, *EFFICIENCY_COLUMNS)) + " |"
    assert markdown.index(header) > 2  # after the seed table's header, separator and row
    assert markdown[markdown.index(header) + 2].endswith("| 0.0575 | 0.400 |")
    (line,) = csv.DictReader(io.StringIO(render(report, "csv")))
    assert (line[TFLOPS], line[SAMPLES_PER_JOULE]) == ("0.0575", "0.400")
    assert float(line["achieved_flops_per_device"]) == P_TRAIN * FLOPS_PER_SAMPLE
    document = json.loads(render(report, "json"))
    assert document["efficiency"]["columns"] == [CONFIGURATION, *EFFICIENCY_COLUMNS]
    assert document["efficiency"]["rows"][0][SAMPLES_PER_JOULE] == "0.400"
    html = render(report, "html")
    assert html.index("<h2>Efficiency</h2>") > html.index("<h2>Standard table</h2>") and ">0.0575<" in html
