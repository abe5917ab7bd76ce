"""The record a requeued Slurm job continues, found by the job id ``env.json``'s provenance names and the node
rank; tests/cli/test_slurm.py requeues a real job, tests/hardware/test_provenance_facts.py reads the job's facts."""

from __future__ import annotations

import json
from pathlib import Path

from benchbase.launch.job_identity import job_identity
from benchbase.launch.slurm_job import requeued_record, restart_count


def test_a_jobs_node_list_and_site_options_are_recorded_with_its_id() -> None:
    environ = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "bench", "SLURM_JOB_NODELIST": "gpu[01-02]",
               "SLURM_JOB_PARTITION": "debug", "SLURM_JOB_ACCOUNT": "bench", "SLURM_JOB_QOS": "normal",
               "SLURM_RESTART_COUNT": "1"}
    assert job_identity(environ) == {
        "scheduler": "slurm", "job_id": "4242", "job_name": "bench", "node_list": "gpu[01-02]", "partition": "debug",
        "account": "bench", "qos": "normal", "restart_count": 1,
    }


def test_restart_count_is_zero_for_a_first_run_and_outside_slurm() -> None:
    assert restart_count({}) == 0 and restart_count({"SLURM_RESTART_COUNT": "2"}) == 2
    assert restart_count({"SLURM_RESTART_COUNT": "two"}) == 0


def _record(root: Path, name: str, job_id: str | None, node_rank: int) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    job = {"scheduler": "slurm", "job_id": job_id} if job_id else None
    (folder / "env.json").write_text(json.dumps({"provenance": {"job": job}, "launch": {"node_rank": node_rank}}))
    return folder


def test_a_requeued_job_finds_the_record_its_node_started(tmp_path: Path) -> None:
    _record(tmp_path, "a-other-job", "11", 0)
    mine = _record(tmp_path, "b-this-job", "12", 0)
    _record(tmp_path, "c-this-job-node-1", "12", 1)
    _record(tmp_path, "d-no-job", None, 0)
    (tmp_path / "e-damaged").mkdir()
    (tmp_path / "e-damaged" / "env.json").write_text("{not json")
    assert requeued_record(tmp_path, "12", 0) == mine
    assert requeued_record(tmp_path, "13", 0) is None, "an earlier attempt that made no record: start afresh"
    assert requeued_record(tmp_path / "missing", "12", 0) is None
