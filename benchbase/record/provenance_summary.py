"""The summary's ``provenance`` object, from ``env.json``'s: one label per library, the revisions, the job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchbase.foreign import visible
from benchbase.record.schema import ENV_PROVENANCE


def provenance_summary(environment: Mapping[str, Any]) -> dict[str, Any] | None:
    """``None`` for a record made before ``env.json`` had a provenance (or without a readable one)."""
    provenance = environment.get(ENV_PROVENANCE)
    if not isinstance(provenance, Mapping):
        return None
    code = provenance.get("code")
    revisions = {
        str(name): facts.get("revision") if isinstance(facts.get("revision"), str) else None
        for name, facts in (code.items() if isinstance(code, Mapping) else ())
        if isinstance(facts, Mapping)
    }
    return {
        "communication": library_label(provenance.get("communication")),
        "kernels": library_label(provenance.get("kernels")),
        "code": revisions,
        "job": job_label(provenance.get("job")),
    }


def library_label(part: Any) -> str | None:
    """``nccl 2.21.5`` for one library of ``env.json`` (``{"library", "version"}``); ``None`` without a library."""
    if not isinstance(part, Mapping) or not isinstance(part.get("library"), str):
        return None
    version = part.get("version")
    return f"{part['library']} {version}" if isinstance(version, str) and version else part["library"]


def job_label(job: Any) -> str | None:
    """``slurm job 4242`` or ``kubernetes job bench, pod bench-master-0`` for ``env.json``'s job."""
    if not isinstance(job, Mapping) or not isinstance(job.get("scheduler"), str):
        return None
    parts = [f"{job['scheduler']} job {job.get('job_id') or '(id not given)'}"]
    if isinstance(job.get("array_task_id"), str):
        parts.append(f"array {job.get('array_job_id')} task {job['array_task_id']}")
    if isinstance(job.get("pod"), str):
        parts.append(f"pod {job['pod']}")
    return visible(", ".join(parts))
