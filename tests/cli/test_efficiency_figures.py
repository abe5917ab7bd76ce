"""The efficiency table and the too-few-samples mark on real runs with power, through the stand-in vendor ``meter``
of test_physical_devices (this machine has no power sensor): its devices draw 100 W and state a peak of 1 TFLOP/s.

Each figure of the efficiency table is recomputed from the record's raw files (p_train from events.jsonl here; the
energy per sample through that module's recomputation from telemetry.csv) and compared with what
``benchbase report --format json`` says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_benchbase
from test_physical_devices import meter_site, recomputed, shared_run, slow_sensor_run  # noqa: F401 - fixtures

FEW_SAMPLES = "‡"


def _events(record: Path, key: str) -> list[dict]:
    lines = (record / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [event for event in map(json.loads, lines) if event["key"] == key]


def _report_row(record: Path, cache_dir: Path) -> dict:
    result = run_benchbase(["report", str(record), "--format", "json", "--detail"], cache_dir, record.parent)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["rows"]
    return row


def test_the_efficiency_figures_of_two_ranks_on_one_device_recomputed_from_raw_files(shared_run, cache_dir):
    summary = json.loads((shared_run / "summary.json").read_text())
    raw = recomputed(shared_run, summary)
    row = _report_row(shared_run, cache_dir)
    (run_start,), (train_stop,), windows = (_events(shared_run, key) for key in ("run_start", "train_stop", "windows"))
    steady = train_stop["samples"] - windows[-1]["metadata"].get("warmup_samples", 0)
    p_train = steady / windows[-1]["value"]["train_s"]
    flops_per_sample = run_start["metadata"]["flops_per_sample"]
    assert raw["devices"] == 1  # two ranks, one device
    assert row["values"]["achieved_flops_per_device"] == pytest.approx(p_train * flops_per_sample / 1, rel=1e-9)
    energy = raw["power"]["energy_per_sample_j"].expected  # from the energy counter's rows in telemetry.csv
    assert row["values"]["samples_per_joule"] == pytest.approx(1 / energy, rel=1e-9)
    assert row["values"]["mfu"] == pytest.approx(p_train * flops_per_sample / 1e12, rel=1e-9)
    # Printed in significant figures, whatever the magnitude: a CPU's MFU is a small fraction of a percent.
    mfu_text = row["efficiency"]["MFU"].split()[0].rstrip("%")
    assert len(mfu_text.replace(".", "").lstrip("0")) == 3 and float(mfu_text) > 0
    assert row["cells"]["Power (W)"].startswith("100*1")


def test_a_slow_sensors_power_is_marked_wherever_it_is_shown(slow_sensor_run, cache_dir):
    summary = json.loads((slow_sensor_run / "summary.json").read_text())
    assert summary["power"]["too_few_samples"] is True
    row = _report_row(slow_sensor_run, cache_dir)
    assert row["cells"]["Power (W)"].endswith(FEW_SAMPLES)
    assert row["efficiency"]["Samples per joule"].endswith(FEW_SAMPLES)
    assert dict((item["label"], item["text"]) for item in row["detail"])["Energy per sample"].endswith(FEW_SAMPLES)
    assert row["values"]["power_too_few_samples"] is True
    for fmt in ("table", "md", "csv", "html"):
        result = run_benchbase(["report", str(slow_sensor_run), "--format", fmt], cache_dir, slow_sensor_run.parent)
        assert result.returncode == 0 and FEW_SAMPLES in result.stdout, fmt
