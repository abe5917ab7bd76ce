"""Provenance in the report: a row's identity holds the libraries that ran the collectives and kernels (they change a
result) but not the scheduler's job (it does not); --detail shows the libraries, each distribution's revision and
each run's job. The records are synthetic (tests/report/conftest.py) with stand-in provenance."""

from __future__ import annotations

from benchbase.report import build_report, load_runs

CODE = {"benchbase-core": "git " + "a" * 40 + "+dirty", "benchbase-cpm": "sha256=" + "b" * 64}


def provenance(communication: str, job: str | None) -> dict[str, object]:
    return {"provenance": {"communication": communication, "kernels": "cudnn 9.1.0", "code": CODE, "job": job}}


def test_runs_on_two_nccl_versions_are_two_rows_but_two_jobs_of_one_setup_are_one(runs_dir, write_run) -> None:
    write_run(runs_dir, "a1", repeat_group="g1", **provenance("nccl 2.21.5", "slurm job 11"))
    write_run(runs_dir, "a2", repeat_group="g1", **provenance("nccl 2.21.5", "slurm job 12"))
    write_run(runs_dir, "b1", **provenance("nccl 2.23.4", "slurm job 13"))
    rows = build_report(load_runs([runs_dir]), reference=False, detail=True).rows
    assert sorted(row.key.communication_library for row in rows) == ["nccl 2.21.5", "nccl 2.23.4"]
    first = next(row for row in rows if row.key.communication_library == "nccl 2.21.5")
    detail = dict(first.detail)
    assert detail["Libraries"] == "nccl 2.21.5; cudnn 9.1.0"
    assert detail["Code"] == "benchbase-core git aaaaaaaaaaaa+dirty, benchbase-cpm sha256=" + "b" * 64
    assert detail["Job"] == "a1: slurm job 11; a2: slurm job 12"


def test_a_record_made_before_provenance_still_reports_and_says_so(runs_dir, write_run) -> None:
    write_run(runs_dir, "old")
    (row,) = build_report(load_runs([runs_dir]), reference=False, detail=True).rows
    detail = dict(row.detail)
    assert row.key.communication_library is None and row.key.kernel_library is None
    assert detail["Libraries"] == "n/a (not recorded)" and detail["Code"] == "n/a (not recorded)"
    assert detail["Job"] == "n/a (not run inside a scheduler's job)"
