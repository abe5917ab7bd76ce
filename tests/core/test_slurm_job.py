"""``env.json``'s ``job`` from Slurm's variables (a dict standing for a task's environment), and the record a
requeued job continues; tests/cli/test_slurm.py requeues a real job."""

from __future__ import annotations

import json
from pathlib import Path

from benchbase.launch.slurm_job import job_facts, requeued_record, restart_count


def test_outside_a_slurm_job_there_is_no_job() -> None:
    assert job_facts({"HOME": "/root"}) is None


def test_a_jobs_id_node_list_and_site_options_are_recorded() -> None:
    environ = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "gpu[01-02]", "SLURM_JOB_PARTITION": "debug",
               "SLURM_JOB_ACCOUNT": "bench", "SLURM_JOB_QOS": "normal", "SLURM_RESTART_COUNT": "1"}
    assert job_facts(environ) == {
        "scheduler": "slurm", "job_id": "4242", "node_list": "gpu[01-02]", "partition": "debug",
        "account": "bench", "qos": "normal", "restart_count": 1, "array_job_id": None, "array_task_id": None,
    }


def test_a_value_with_a_control_character_is_dropped() -> None:
    facts = job_facts({"SLURM_JOB_ID": "7", "SLURM_JOB_PARTITION": "debug\n#SBATCH --x"})
    assert facts is not None and facts["partition"] is None


def test_restart_count_is_zero_for_a_first_run_and_outside_slurm() -> None:
    assert restart_count({}) == 0 and restart_count({"SLURM_RESTART_COUNT": "2"}) == 2


def _record(root: Path, name: str, job_id: str | None, node_rank: int) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    job = {"job_id": job_id} if job_id else None
    (folder / "env.json").write_text(json.dumps({"job": job, "launch": {"node_rank": node_rank}}))
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
