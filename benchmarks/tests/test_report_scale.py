"""Benchmark 9 end to end at tiny sizes: the synthetic folders are real records, each report process is measured
on its own, and the fits and verdicts are computed from those measurements."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchbase.record import schema
from benchbase.record.files import read_json_record
from benchbase.record.rundir import validate_summary
from benchbase.report import build_report, load_runs
from benchmarks import report_scale, synthetic_runs


def test_the_synthetic_folders_are_valid_records_of_the_promised_mix(tmp_path: Path) -> None:
    folders = synthetic_runs.ensure_folders(tmp_path, [40, 120])
    result = load_runs(folders)
    assert result.skipped == ()
    runs = result.runs
    assert len(runs) == 120, "a two-node run's second record is folded into its main run"
    for folder in folders[0].iterdir():
        validate_summary(read_json_record(folder / schema.SUMMARY_FILE))
        assert all((folder / name).is_file() for name in (schema.CONFIG_FILE, schema.ENV_FILE, schema.EVENTS_FILE,
                                                          schema.TELEMETRY_FILE))
    multi = sum(run.world_size > 1 for run in runs)
    assert 0.3 < multi / len(runs) < 0.7
    assert len({run.hostname for run in runs}) > 4 and any(run.nnodes == 2 for run in runs)
    assert any(run.contended for run in runs) and any(run.repeat_group for run in runs)
    cells = [row.cells["Scalability"] for row in build_report(result).rows]
    assert any("ran alongside" in cell for cell in cells), "some runs overlap another on their host"


def test_folders_are_written_once_and_reused(tmp_path: Path) -> None:
    first = synthetic_runs.ensure_folders(tmp_path, [5, 10])
    marker = first[0] / "marker"
    marker.write_text("kept")
    assert synthetic_runs.ensure_folders(tmp_path, [5, 10]) == first and marker.is_file()


def test_the_fit_recovers_known_coefficients_and_the_quadratic_share() -> None:
    sizes = [1_000, 2_500, 5_000, 10_000]
    found = report_scale.fit(sizes, [0.5 + 1e-4 * n + 1e-9 * n * n for n in sizes])
    assert (found.a, found.b, found.c) == pytest.approx((0.5, 1e-4, 1e-9), rel=1e-6)
    assert found.quadratic_share == pytest.approx(0.1 / 1.6)
    # Between 5,000 and 10,000 the fixed 0.5 still weighs: the exponent is below 1 although c > 0.
    assert found.exponent == pytest.approx(math.log(1.6 / 1.025) / math.log(2))


def test_every_format_is_measured_at_every_size_and_judged(tmp_path: Path) -> None:
    results = report_scale.run(sizes=(8, 16, 24), formats=("md", "json"), cache_root=tmp_path)
    assert [result.title.split(":")[0] for result in results] == [
        "report --format md over 24 runs", "report --format json over 24 runs", "report"]
    md = results[0]
    assert md.figure is not None and md.figure.value > 0 and md.verdict in ("met", "NOT met")
    assert md.notes[0].split() == ["N", "runs:", "8", "16", "24"]
    cpu = [float(value) for value in md.notes[1].split()[2:]]
    assert len(cpu) == 3 and all(value > 0 for value in cpu)
    assert any(note.startswith("output MB ~") for note in md.notes)
    assert results[-1].figure is not None and results[-1].goal == pytest.approx(0.9)


def test_a_reports_peak_memory_is_its_own_not_the_parents(tmp_path: Path) -> None:
    folders = synthetic_runs.ensure_folders(tmp_path / "cache", [10])
    ballast = b"x" * (300 << 20)  # the parent's memory, which a child has until it execs
    measured = report_scale.measure("md", folders, tmp_path / "report.md")
    assert len(ballast) and 20 < measured.peak_rss_mb < 250
    assert measured.output_bytes == (tmp_path / "report.md").stat().st_size
