"""The record a requeued Slurm job continues.

A requeued job runs its batch script again under the same job id, with ``SLURM_RESTART_COUNT`` counting the
restarts (Slurm's sbatch documentation, "OUTPUT ENVIRONMENT VARIABLES"). Each node's task then finds the record it
started in the previous attempt by that job id (``env.json``'s ``provenance.job``, :mod:`benchbase.launch.job_identity`)
and its node rank, and continues it (:func:`requeued_record`), so a preempted job ends as one record, not two half
ones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from benchbase.record.files import RecordError, read_json_record
from benchbase.record.schema import ENV_FILE, ENV_PROVENANCE


def restart_count(environ: Mapping[str, str] | None = None) -> int:
    """How many times Slurm requeued this job (0 for its first run, and outside Slurm)."""
    value = (os.environ if environ is None else environ).get("SLURM_RESTART_COUNT", "")
    return int(value) if value.isdigit() and len(value) < 10 else 0


def requeued_record(out_root: Path, job_id: str, node_rank: int) -> Path | None:
    """The record this node started in an earlier attempt of job ``job_id`` under ``out_root``, or ``None`` where
    that attempt made none (stopped before its record began). Folders whose ``env.json`` cannot be read (through the
    record layer: bounded, no links followed) are not this job's; the newest match wins should a job somehow hold
    two."""
    found: list[Path] = []
    try:
        folders = sorted(path for path in out_root.iterdir() if path.is_dir())
    except OSError:
        return None
    for folder in folders:
        try:
            env = read_json_record(folder / ENV_FILE)
        except RecordError:
            continue
        if _job_id(env) == job_id and _node_rank(env) == node_rank:
            found.append(folder)
    return found[-1] if found else None


def _job_id(env: object) -> object:
    provenance = env.get(ENV_PROVENANCE) if isinstance(env, dict) else None
    job = provenance.get("job") if isinstance(provenance, dict) else None
    return job.get("job_id") if isinstance(job, dict) else None


def _node_rank(env: object) -> object:
    launch = env.get("launch") if isinstance(env, dict) else None
    return launch.get("node_rank") if isinstance(launch, dict) else None
