"""The Slurm job a run belongs to, read from the variables Slurm gives its tasks: ``env.json``'s ``job``, and the
record a requeued job continues.

A requeued job runs its batch script again under the same job id, with ``SLURM_RESTART_COUNT`` counting the
restarts (Slurm's sbatch documentation, "OUTPUT ENVIRONMENT VARIABLES"). Each node's task then finds the record it
started in the previous attempt by that job id and its node rank, and continues it (:func:`requeued_record`), so a
preempted job ends as one record, not two half ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchbase.foreign import has_control
from benchbase.record.schema import ENV_FILE, ENV_JOB, JOB_KEYS

#: The job's facts and the variables they come from, in ``JOB_KEYS`` order after ``scheduler``.
_VARIABLES = {
    "job_id": "SLURM_JOB_ID",
    "node_list": "SLURM_JOB_NODELIST",
    "partition": "SLURM_JOB_PARTITION",
    "account": "SLURM_JOB_ACCOUNT",
    "qos": "SLURM_JOB_QOS",
    "restart_count": "SLURM_RESTART_COUNT",
    "array_job_id": "SLURM_ARRAY_JOB_ID",
    "array_task_id": "SLURM_ARRAY_TASK_ID",
}


def job_facts(environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The Slurm job of this process (``scheduler``, ``job_id``, ``node_list``, ``partition``, ``account``,
    ``qos``, ``restart_count``, array ids), or ``None`` outside one. A value with a control character is dropped."""
    environ = os.environ if environ is None else environ
    if not _value(environ, "SLURM_JOB_ID"):
        return None
    facts: dict[str, Any] = {"scheduler": "slurm"}
    for key, variable in _VARIABLES.items():
        facts[key] = _value(environ, variable)
    facts["restart_count"] = int(facts["restart_count"]) if str(facts["restart_count"]).isdigit() else 0
    return {key: facts.get(key) for key in JOB_KEYS}


def restart_count(environ: Mapping[str, str] | None = None) -> int:
    """How many times Slurm requeued this job (0 for its first run, and outside Slurm)."""
    value = (os.environ if environ is None else environ).get("SLURM_RESTART_COUNT", "")
    return int(value) if value.isdigit() else 0


def requeued_record(out_root: Path, job_id: str, node_rank: int) -> Path | None:
    """The record this node started in an earlier attempt of job ``job_id`` under ``out_root``, or ``None`` where
    that attempt made none (stopped before its record began). Folders whose ``env.json`` cannot be read are not
    this job's; the newest match wins should a job somehow hold two."""
    found: list[Path] = []
    try:
        folders = sorted(path for path in out_root.iterdir() if path.is_dir())
    except OSError:
        return None
    for folder in folders:
        try:
            env = json.loads((folder / ENV_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        job = env.get(ENV_JOB) if isinstance(env, dict) else None
        launch = env.get("launch") if isinstance(env, dict) else None
        if (isinstance(job, dict) and job.get("job_id") == job_id and isinstance(launch, dict)
                and launch.get("node_rank") == node_rank):
            found.append(folder)
    return found[-1] if found else None


def _value(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value if value and len(value) <= 4096 and not has_control(value) else None
