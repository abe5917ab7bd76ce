"""A run as a Kubeflow PyTorchJob (kubeflow.org/v1): the manifest ``benchbase run ... --launcher kubernetes`` writes.

One pod per node, each running that node's ``benchbase run`` (its supervisor, which starts the node's ranks through
torchrun as a node started by hand does): the Master replica is node 0, where global rank 0 and the rendezvous
live, and N-1 Worker replicas are the others. The operator tells every pod its place (``PET_*``,
:mod:`benchbase.launch.pet_environment`). Each pod asks for one of the vendor's devices per rank (its
``kubernetes_resource``; one CPU per rank for a vendor whose ranks share the host), and mounts one shared volume,
a PersistentVolumeClaim every pod can write (ReadWriteMany), where each node writes its part of the record into one
runs folder, so ``benchbase report`` finds the parts together and merges them. ``/dev/shm`` is a memory volume: a
container's default 64 MiB is too small for torch's shared-memory transfers. benchbase never calls kubectl: the
user applies the file, so the job is theirs to queue and delete. The manifest's fields are those of the operator's
published CRD schema (tests/data/kubernetes, training-operator v1.9.0), which the tests validate it against.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchbase.contract import Submission
from benchbase.errors import BenchbaseError
from benchbase.foreign import has_control, visible
from benchbase.launch.image_reference import check_image

#: The container name the training operator looks for (its ports and environment go to this one).
CONTAINER = "pytorch"
#: The port name the operator reads the rendezvous port from.
PORT_NAME = "pytorchjob-port"
#: Where the shared records volume is mounted in every pod, and the runs folder on it.
RECORDS_MOUNT = "/benchbase/records"
RUNS_IN_POD = f"{RECORDS_MOUNT}/runs"
#: The PersistentVolumeClaim the records volume is (the user creates it once, ReadWriteMany).
RECORDS_CLAIM = "benchbase-records"
#: Environment the pod's record names its job by (:mod:`benchbase.launch.job_identity`), from the downward API.
POD_NAME_ENV, POD_NAMESPACE_ENV, JOB_NAME_ENV = "BENCHBASE_POD_NAME", "BENCHBASE_POD_NAMESPACE", "BENCHBASE_JOB_NAME"
#: The label the operator puts on every pod of a job, holding the job's name.
_JOB_NAME_LABEL = "training.kubeflow.org/job-name"
#: A PyTorchJob's name: the operator requires a DNS-1035 label (pod and service names are built from it).
_NAME_LIMIT = 50
#: An extended resource's name, as Kubernetes accepts one: ``domain/name`` (``nvidia.com/gpu``).
_RESOURCE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/"
                       r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", re.ASCII)


@dataclass(frozen=True)
class PyTorchJobManifest(Submission):
    """One benchbase run as a PyTorchJob: one pod per node, each the node's supervisor."""

    title = "Kubeflow PyTorchJob manifest"

    name: str
    image: str
    nnodes: int
    nproc_per_node: int
    #: The vendor's extended resource, one per rank; ``None`` asks for CPUs instead.
    device_resource: str | None
    #: ``benchbase run ...`` as each pod runs it, without the options the manifest sets.
    run_command: list[str]
    master_port: int
    manifest_path: Path

    def __post_init__(self) -> None:
        """Refuse what must not reach the file: an image that is no reference, and control characters, which a YAML
        string carries but which would reach the pod's command line or the terminal that shows the manifest."""
        check_image(self.image)
        if self.device_resource is not None and not _RESOURCE.fullmatch(self.device_resource):
            raise BenchbaseError(
                f"cannot write a PyTorchJob: the vendor's kubernetes_resource '{visible(self.device_resource)}' is "
                "not a Kubernetes extended resource name",
                "fix the vendor plugin's kubernetes_resource (domain/name, e.g. nvidia.com/gpu) or edit the manifest",
            )
        for arg in self.run_command:
            if has_control(arg):
                raise BenchbaseError(
                    f"cannot write a PyTorchJob: an argument of the run holds a control character ({visible(arg)})",
                    "name paths and values without newlines or other control characters",
                )

    def document(self) -> dict[str, Any]:
        """The manifest as a mapping, in the shape of the CRD's schema."""
        command = [*self.run_command, "--launcher", "kubernetes", "--out", RUNS_IN_POD]
        specs = {"Master": self._replica(1, command)}
        if self.nnodes > 1:
            specs["Worker"] = self._replica(self.nnodes - 1, command)
        return {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {"name": self.name, "labels": {"app.kubernetes.io/created-by": "benchbase"}},
            "spec": {
                "nprocPerNode": str(self.nproc_per_node),
                "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": 0},
                "pytorchReplicaSpecs": specs,
            },
        }

    def _replica(self, replicas: int, command: list[str]) -> dict[str, Any]:
        """Master or Worker: never restarted by the operator (a restarted node would start a second record while
        the others wait in a rendezvous that is gone; ``benchbase run --resume`` is how a run continues)."""
        count = str(self.nproc_per_node)
        resources = ({"limits": {self.device_resource: count}} if self.device_resource
                     else {"requests": {"cpu": count}})
        fields = {POD_NAME_ENV: "metadata.name", POD_NAMESPACE_ENV: "metadata.namespace",
                  JOB_NAME_ENV: f"metadata.labels['{_JOB_NAME_LABEL}']"}
        container = {
            "name": CONTAINER,
            "image": self.image,
            "command": list(command),
            "ports": [{"name": PORT_NAME, "containerPort": self.master_port, "protocol": "TCP"}],
            "resources": resources,
            "env": [{"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}} for name, path in fields.items()],
            "volumeMounts": [{"name": "records", "mountPath": RECORDS_MOUNT},
                             {"name": "dshm", "mountPath": "/dev/shm"}],
        }
        return {
            "replicas": replicas,
            "restartPolicy": "Never",
            "template": {"spec": {
                "containers": [container],
                "volumes": [
                    {"name": "records", "persistentVolumeClaim": {"claimName": RECORDS_CLAIM}},
                    {"name": "dshm", "emptyDir": {"medium": "Memory"}},
                ],
            }},
        }

    def text(self) -> str:
        """The manifest as YAML; ``kubectl apply -f FILE`` submits it."""
        head = (f"# benchbase, {self.nnodes} node(s) x {self.nproc_per_node} rank(s): one pod per node runs that "
                "node's benchbase supervisor.\n"
                f"# Every pod writes its part of the record to the PersistentVolumeClaim {RECORDS_CLAIM} "
                "(ReadWriteMany), mounted at " + RECORDS_MOUNT + ".\n")
        return head + yaml.safe_dump(self.document(), sort_keys=False, width=120)

    def write(self) -> Path:
        """Write the manifest, replacing one written before for the same case, vendor and topology."""
        try:
            self.manifest_path.parent.mkdir(parents=True, exist_ok=True)
            self.manifest_path.write_text(self.text())
        except OSError as exc:
            raise BenchbaseError(
                f"cannot write the PyTorchJob manifest {self.manifest_path} ({exc.strerror or exc})",
                "choose an --out whose parent folder is writable",
            ) from None
        return self.manifest_path

    def dry_run_note(self) -> str:
        return (f"without --dry-run, written to {self.manifest_path} for `kubectl apply -f`; each pod then runs the "
                "launch above as its node")

    def how_to_submit(self, path: Path) -> str:
        return (f"submit it with `kubectl apply -f {shlex.quote(str(path))}` (the PersistentVolumeClaim "
                f"{RECORDS_CLAIM} must exist); `kubectl cp` or any pod mounting the claim reads the records from "
                f"{RUNS_IN_POD}")


def job_name(case: str, vendor: str, nnodes: int, nproc_per_node: int) -> str:
    """A DNS-1035 label naming the job: lowercase letters, digits and dashes, starting with a letter."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"benchbase-{case}-{vendor}-{nnodes}x{nproc_per_node}".lower())
    return re.sub(r"-{2,}", "-", name)[:_NAME_LIMIT].strip("-")
