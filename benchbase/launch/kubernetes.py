"""Kubernetes as a launcher: the PyTorchJob manifest benchbase writes, and what a node's pod reads from its operator.

Outside a job it writes the manifest (:mod:`benchbase.launch.pytorchjob`) for the user to apply; inside a pod of a
PyTorchJob, a TrainJob, or a JobSet whose template sets the same variables, each pod is one node and takes its node
rank, master and port from the ``PET_*`` variables (:mod:`benchbase.launch.pet_environment`), like a Slurm task
takes them from Slurm, and is then recorded, bound and judged like any node started by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchbase.contract import JobShape, Launcher
from benchbase.errors import BenchbaseError
from benchbase.launch.argv import node_argv
from benchbase.launch.pet_environment import in_job, pod_placement
from benchbase.launch.plan import DEFAULT_MASTER_PORT
from benchbase.launch.pytorchjob import PyTorchJobManifest, job_name

#: ``benchbase run`` options the manifest sets for every pod itself, dropped from the user's command line.
_POD_OPTIONS = ("--launcher", "--master-addr", "--master-port", "--node-rank", "--out", "--container-image")


class KubernetesLauncher(Launcher):
    """Outside a job it writes a PyTorchJob manifest; inside one of its pods, the node's place comes from ``PET_*``."""

    name = "kubernetes"
    description = ("a Kubeflow PyTorchJob manifest to apply with kubectl (--container-image); inside its pods, "
                   "placement read from the operator's PET_* variables")

    def runs_here(self) -> bool:
        """Only a pod the operator placed (``PET_NNODES`` set) is a node of the job."""
        return in_job(os.environ)

    def submission(self, job: JobShape) -> PyTorchJobManifest:
        """The manifest for ``job``; it needs the image every pod runs."""
        if job.container_image is None:
            raise BenchbaseError(
                "--launcher kubernetes writes a PyTorchJob, whose pods need a container image",
                "pass --container-image IMAGE (an image with benchbase, its plugins and your accelerator's torch)",
            )
        name = job_name(job.case, job.vendor, job.nnodes, job.nproc_per_node)
        return PyTorchJobManifest(
            name=name,
            image=job.container_image,
            nnodes=job.nnodes,
            nproc_per_node=job.nproc_per_node,
            device_resource=job.device_resource if job.devices_per_node is not None else None,
            run_command=["benchbase", *node_argv(job.run_argv, _POD_OPTIONS, "a PyTorchJob")],
            master_port=job.master_port or DEFAULT_MASTER_PORT,
            manifest_path=(Path.cwd() / job.out_root).resolve().parent / "kubernetes" / f"{name}.yaml",
        )

    def placement(self, nnodes: int, node_rank: int, master_addr: str | None, dry_run: bool) -> tuple[int, str | None]:
        """From the pod's ``PET_*`` variables, as :meth:`rendezvous` (which the core asks) reads them, without the
        processes per node that this signature does not carry."""
        rank, addr, _port = self.rendezvous(nnodes, None, node_rank, master_addr, None, dry_run)
        return rank, addr

    def rendezvous(
        self, nnodes: int, nproc_per_node: int | None, node_rank: int, master_addr: str | None,
        master_port: int | None, dry_run: bool,
    ) -> tuple[int, str | None, int | None]:
        """In a pod, all three from ``PET_*`` after checking the job's shape against ``--config``, except that
        ``--master-addr`` and ``--master-port``, when given, win as they do over torchrun's own ``PET_*``; a dry run
        outside a job, which writes the manifest, shows the Master's place."""
        if not in_job(os.environ):
            return 0, master_addr or "<the Master pod's service>", master_port
        place = pod_placement(nnodes, nproc_per_node, os.environ)
        if nnodes == 1:
            return place.node_rank, None, None
        return place.node_rank, master_addr or place.master_addr, master_port or place.master_port
