"""Which scheduler job a run belongs to, for ``env.json``: the id an operator looks the job up by afterwards.

Slurm tells every process of a job ``SLURM_JOB_ID`` (``SLURM_ARRAY_JOB_ID``/``SLURM_ARRAY_TASK_ID`` for an array).
Kubernetes tells a pod nothing of itself unless its template asks: the PyTorchJob benchbase writes passes the pod's
name, namespace and job name through the downward API (:mod:`benchbase.launch.pytorchjob`); another pod is known by
its host name, which Kubernetes makes the pod's name, once ``KUBERNETES_SERVICE_HOST`` says it is a pod. A job id
never changes a result, so the report shows it and never groups by it. The values come from the environment, so
control characters are spelled out and each is bounded in length.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from benchbase.foreign import visible
from benchbase.launch.pytorchjob import JOB_NAME_ENV, POD_NAME_ENV, POD_NAMESPACE_ENV

#: The longest a name is kept (Kubernetes' own limit on a name); anything longer is cut.
_LONGEST = 253


def job_identity(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """``{"scheduler": "slurm"|"kubernetes", ...}`` for a run inside a scheduler's job, else ``None``."""
    if "SLURM_JOB_ID" in environ:
        found = {"scheduler": "slurm", "job_id": _text(environ["SLURM_JOB_ID"]),
                 "job_name": _text(environ.get("SLURM_JOB_NAME")), **_slurm_site(environ)}
        if "SLURM_ARRAY_JOB_ID" in environ:
            found.update(array_job_id=_text(environ["SLURM_ARRAY_JOB_ID"]),
                         array_task_id=_text(environ.get("SLURM_ARRAY_TASK_ID")))
        return found
    if POD_NAME_ENV in environ or "KUBERNETES_SERVICE_HOST" in environ:
        return {"scheduler": "kubernetes", "job_id": _text(environ.get(JOB_NAME_ENV)),
                "pod": _text(environ.get(POD_NAME_ENV) or socket.gethostname()),
                "namespace": _text(environ.get(POD_NAMESPACE_ENV))}
    return None


def _slurm_site(environ: Mapping[str, str]) -> dict[str, Any]:
    """Where the Slurm job ran and was queued, those Slurm set: ``node_list``, ``partition``, ``account``, ``qos``,
    and ``restart_count``, how many times Slurm requeued it (set from the first requeue on; a requeued run keeps the
    ``env.json`` of the attempt that started it and counts the resume in ``events.jsonl``)."""
    found: dict[str, Any] = {key: _text(environ.get(variable)) for key, variable in (
        ("node_list", "SLURM_JOB_NODELIST"), ("partition", "SLURM_JOB_PARTITION"), ("account", "SLURM_JOB_ACCOUNT"),
        ("qos", "SLURM_JOB_QOS"))}
    restarts = environ.get("SLURM_RESTART_COUNT", "")
    found["restart_count"] = int(restarts) if restarts.isdigit() and len(restarts) < 10 else None
    return {key: value for key, value in found.items() if value is not None}


def _text(value: str | None) -> str | None:
    return None if value is None else visible(value[:_LONGEST])
