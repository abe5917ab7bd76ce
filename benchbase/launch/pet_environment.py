"""A node's place in a Kubernetes job, read from the ``PET_*`` variables its operator sets in every pod.

torchrun reads its options from ``PET_<OPTION>`` variables when they are not on its command line, and the Kubeflow
operators set them for it: the training operator's PyTorchJob (kubeflow.org/v1) sets ``PET_NNODES`` (the replicas),
``PET_NODE_RANK`` (0 for the Master, 1 + index for a Worker), ``PET_MASTER_ADDR``, ``PET_MASTER_PORT`` and, when the
job names it, ``PET_NPROC_PER_NODE``; Kubeflow Trainer's TrainJob sets the same five (its node rank from the pod's
job-completion index). A JobSet sets none of them (only labels, annotations and the indexed Job's
``JOB_COMPLETION_INDEX``): its pod template declares them itself (docs/launch.md shows how). Each value comes from a
file someone edited, so each is checked and a bad one refused in one line before anything starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from benchbase.errors import BenchbaseError
from benchbase.foreign import visible

NNODES, NODE_RANK, NPROC_PER_NODE = "PET_NNODES", "PET_NODE_RANK", "PET_NPROC_PER_NODE"
MASTER_ADDR, MASTER_PORT = "PET_MASTER_ADDR", "PET_MASTER_PORT"
#: torchrun's words for "one process per device found" (``--nproc-per-node``); they leave the count to ``--config``.
_NPROC_WORDS = frozenset({"auto", "cpu", "gpu", "xpu"})
#: What a host name or an IP address may hold (as ``--master-addr``).
_ADDRESS_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:%[]-")
_FIX = "submit the PyTorchJob `benchbase run ... --launcher kubernetes` writes, or set the PET_* variables as it does"


@dataclass(frozen=True)
class PodPlacement:
    """This pod's node rank and the rendezvous on node 0, as the operator told it."""

    node_rank: int
    master_addr: str | None
    master_port: int | None


def in_job(environ: Mapping[str, str]) -> bool:
    """Whether this process runs in a pod of a job whose operator places its nodes (``PET_NNODES`` is set)."""
    return NNODES in environ


def pod_placement(nnodes: int, nproc_per_node: int | None, environ: Mapping[str, str]) -> PodPlacement:
    """Check the job's shape against ``--config NxM`` (``nproc_per_node`` ``None``: its M unchecked) and read this
    pod's place; every bad value is one line."""
    job_nodes = _count(environ, NNODES, "an elastic range such as 1:4 is not run: benchbase measures a fixed world; "
                       "drop the job's elasticPolicy")
    if job_nodes != nnodes:
        raise BenchbaseError(
            f"--config asks for {nnodes} node(s) but this job has {NNODES}={job_nodes}",
            "give --config the job's number of pods (the PyTorchJob's Master plus Worker replicas) as its N",
        )
    nproc = environ.get(NPROC_PER_NODE)
    if nproc is not None and nproc not in _NPROC_WORDS and nproc_per_node is not None:
        if _count(environ, NPROC_PER_NODE, "or one of torchrun's words auto, cpu, gpu, xpu") != nproc_per_node:
            raise BenchbaseError(
                f"--config asks for {nproc_per_node} process(es) per node but this job has "
                f"{NPROC_PER_NODE}={_shown(nproc)}",
                "make the job's nprocPerNode --config's M",
            )
    if NODE_RANK not in environ:
        raise BenchbaseError(f"this pod has {NNODES} but no {NODE_RANK}", _FIX)
    node_rank = _count(environ, NODE_RANK, "", minimum=0)
    if node_rank >= nnodes:
        raise BenchbaseError(f"{NODE_RANK}={node_rank} is outside 0..{nnodes - 1} for {nnodes} node(s)", _FIX)
    if nnodes == 1:
        return PodPlacement(node_rank, None, None)
    return PodPlacement(node_rank, _address(environ), _port(environ))


def _count(environ: Mapping[str, str], name: str, hint: str, minimum: int = 1) -> int:
    text = environ.get(name, "")
    if not (text.isascii() and text.isdigit()) or len(text) > 6 or int(text) < minimum:
        least = "a whole number" if minimum == 0 else "a whole number of at least 1"
        raise BenchbaseError(f"{name} is '{_shown(text)}', not {least}", f"{hint}; {_FIX}" if hint else _FIX)
    return int(text)


def _address(environ: Mapping[str, str]) -> str:
    text = environ.get(MASTER_ADDR, "")
    if not text or len(text) > 253 or not set(text) <= _ADDRESS_CHARACTERS:
        raise BenchbaseError(f"{MASTER_ADDR} is '{_shown(text)}', not a host name or an IP address", _FIX)
    return text


def _port(environ: Mapping[str, str]) -> int:
    text = environ.get(MASTER_PORT, "")
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text[:6]) <= 65535:
        raise BenchbaseError(f"{MASTER_PORT} is '{_shown(text)}', not a port from 1 to 65535", _FIX)
    return int(text)


def _shown(text: str) -> str:
    """A value as a message quotes it: control characters spelled out, at most 40 characters of it."""
    return visible(text[:40]) + ("..." if len(text) > 40 else "")
