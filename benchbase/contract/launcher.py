"""How a run's processes get started on its nodes: the launcher, a registered plugin kind like cases and vendors.

A launcher answers three questions for ``benchbase run --launcher NAME``: is this process already a node of the job
(:meth:`Launcher.runs_here`), or does the job first have to be written down for the user to submit
(:meth:`Launcher.submission`, e.g. a Slurm batch script); and, on a node, what its node rank and master address are
(:meth:`Launcher.placement`). Whatever the launcher, each node then runs its own supervisor, which starts that node's
ranks as a node started by hand does, so a run is recorded, bound and judged the same way however it was started.
The core registers ``auto`` (this machine, one process or torchrun) and ``slurm``; a plugin adds others through
``benchbase_register_launchers`` without touching the command line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class JobShape:
    """The whole job as a launcher that writes something to submit has to describe it."""

    case: str
    vendor: str
    nnodes: int
    nproc_per_node: int
    #: Devices each node must be given, for vendors whose ranks each drive one; ``None`` for the host CPU.
    devices_per_node: int | None
    #: The user's ``run ...`` arguments, which every node of the job repeats.
    run_argv: list[str]
    master_port: int | None
    out_root: Path
    #: The container image every node runs (``--container-image``), for launchers whose job names one; ``None``
    #: when the user gave none.
    container_image: str | None = None
    #: The vendor's devices as a cluster scheduler's resource (:attr:`benchbase.contract.Vendor.kubernetes_resource`).
    device_resource: str | None = None
    #: The options of ``run`` that only a launcher reads (for ``slurm``: ``--partition``, ``--requeue``...), by
    #: their parameter names; those the user did not give are absent.
    launcher_options: Mapping[str, Any] = field(default_factory=dict)


class Submission(ABC):
    """What a launcher writes for the user to submit, rather than starting the job itself: the job is then theirs to
    queue, account and cancel."""

    #: What it is, as ``--dry-run`` heads it (e.g. "Slurm batch script").
    title: str = ""

    @abstractmethod
    def text(self) -> str:
        """The file's content, which ``--dry-run`` prints instead of writing it."""

    @abstractmethod
    def write(self) -> Path:
        """Write the file and return where; a place that cannot be written is a one-line error."""

    @abstractmethod
    def dry_run_note(self) -> str:
        """Where it would be written and what each node then runs, for ``--dry-run``'s heading."""

    @abstractmethod
    def how_to_submit(self, path: Path) -> str:
        """One line telling the user how to submit the file written at ``path``."""


class Launcher(ABC):
    """Starts a run's nodes; see the module docstring. Register instances from ``benchbase_register_launchers``."""

    name: str = ""
    description: str = ""

    def runs_here(self) -> bool:
        """True when this process is a node of the job and runs it now; False when the job must first be submitted
        (:meth:`submission`)."""
        return True

    def submission(self, job: JobShape) -> Submission | None:
        """What the user submits to start ``job``, or ``None`` for a launcher that starts the job itself. Asked for
        ``--dry-run`` too, which shows it."""
        return None

    @abstractmethod
    def placement(self, nnodes: int, node_rank: int, master_addr: str | None, dry_run: bool) -> tuple[int, str | None]:
        """This node's rank and the master address, given what the command line says (``--node-rank``,
        ``--master-addr``); for ``--dry-run`` of a job to submit, the placement of its first node."""

    def rendezvous(
        self, nnodes: int, nproc_per_node: int, node_rank: int, master_addr: str | None, master_port: int | None,
        dry_run: bool,
    ) -> tuple[int, str | None, int | None]:
        """This node's rank, the master address and the rendezvous port, given ``--config``'s shape and what the
        command line says (``--master-port`` is ``None`` when not given). The core asks this; the default is
        :meth:`placement` with the command line's port. A launcher whose job tells each node the port and the
        job's shape (a Kubernetes operator does) overrides it to read them and check the shape."""
        rank, addr = self.placement(nnodes, node_rank, master_addr, dry_run)
        return rank, addr, master_port
