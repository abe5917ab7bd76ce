"""The launch plan: which processes a run starts, on which CPUs, through which launcher.

One process for 1x1 (the worker directly, no launcher in between). More than one process goes through torchrun
(``python -m torch.distributed.run``): on one node with ``--standalone`` (c10d rendezvous on a free port); on several
nodes with the master address and the node rank given on the command line, so global rank 0 always lives on node 0
and that node's record is the main one. Under Slurm the node rank and master come from the Slurm environment; the
Slurm ``srun`` line is printed for the user to submit, never run by us, and we never SSH anywhere.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from benchbase.contract import Binding
from benchbase.errors import BenchbaseError

WORKER_MODULE = "benchbase.worker"
#: Environment variable carrying each local rank's CPU list (JSON list of lists) to the workers.
BINDINGS_ENV = "BENCHBASE_BINDINGS"


@dataclass(frozen=True)
class LaunchPlan:
    """What ``benchbase run`` starts on this node; ``--dry-run`` prints it and ``env.json`` records it."""

    kind: str
    command: list[str]
    nnodes: int
    nproc_per_node: int
    node_rank: int
    master_addr: str
    master_port: int
    bindings: list[Binding | None] = field(default_factory=list)

    @property
    def world_size(self) -> int:
        return self.nnodes * self.nproc_per_node

    def environment(self) -> dict[str, str]:
        """Variables the launched processes need on top of the supervisor's environment."""
        env = {BINDINGS_ENV: json.dumps([list(b.cpus) if b else None for b in self.bindings])}
        if self.kind == "single":
            env.update({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1"})
        return env

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "command": shlex.join(self.command),
            "nnodes": self.nnodes,
            "nproc_per_node": self.nproc_per_node,
            "node_rank": self.node_rank,
            "master_addr": self.master_addr,
            "master_port": self.master_port,
            "world_size": self.world_size,
            "bindings": [b.describe() if b else None for b in self.bindings],
            "binding_method": binding_method() if any(self.bindings) else "none (no CPU binding)",
        }


def binding_method() -> str:
    """How the CPU binding is applied, for ``--dry-run`` and ``env.json``.

    Each rank pins itself with ``sched_setaffinity`` before it builds anything (see ``benchbase.worker``), which
    needs nothing installed; whether ``numactl`` is present is stated so a reader of the record need not wonder.
    """
    numactl = shutil.which("numactl")
    return "sched_setaffinity in each rank; " + (f"numactl found at {numactl}" if numactl else "numactl not installed")


def free_port() -> int:
    """A TCP port free on loopback now; used for single-node rendezvous so parallel runs never collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plan_launch(
    nnodes: int,
    nproc_per_node: int,
    worker_args: list[str],
    *,
    node_rank: int = 0,
    master_addr: str | None = None,
    master_port: int | None = None,
    bindings: list[Binding | None] | None = None,
) -> LaunchPlan:
    """Build the command for this node. ``worker_args`` are appended to the worker module invocation."""
    if not 0 <= node_rank < nnodes:
        raise BenchbaseError(
            f"--node-rank {node_rank} is outside 0..{nnodes - 1} for {nnodes} node(s)",
            "give each node a distinct rank from 0 to N-1",
        )
    if nnodes > 1 and not master_addr:
        raise BenchbaseError(
            f"--config {nnodes}x{nproc_per_node} spans {nnodes} nodes but no master address was given",
            "pass --master-addr HOST (the node with --node-rank 0) and --master-port, or use --launcher slurm",
        )
    bindings = bindings if bindings is not None else [None] * nproc_per_node
    worker = [sys.executable, "-m", WORKER_MODULE, *worker_args]
    if nnodes == 1 and nproc_per_node == 1:
        return LaunchPlan("single", worker, 1, 1, 0, "127.0.0.1", 0, bindings)
    torchrun = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc_per_node}"]
    if nnodes == 1:
        port = master_port or free_port()
        torchrun += ["--standalone", f"--rdzv-endpoint=127.0.0.1:{port}"]
        addr = "127.0.0.1"
    else:
        port = master_port or 29500
        addr = str(master_addr)
        torchrun += [
            f"--nnodes={nnodes}",
            f"--node-rank={node_rank}",
            f"--master-addr={addr}",
            f"--master-port={port}",
        ]
    torchrun += ["--max-restarts=0", "--module", WORKER_MODULE, *worker_args]
    return LaunchPlan("torchrun", torchrun, nnodes, nproc_per_node, node_rank, addr, port, bindings)


def _first_slurm_host(nodelist: str) -> str:
    """First host of a Slurm node list (``gpu[01-04,07],cpu1`` -> ``gpu01``), without calling scontrol."""
    match = re.match(r"([^\[,]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not match:
        raise BenchbaseError(f"cannot read SLURM_JOB_NODELIST '{nodelist}'", "pass --master-addr explicitly")
    prefix, ranges = match.group(1), match.group(2)
    if not ranges:
        return prefix
    first = ranges.split(",")[0].split("-")[0]
    return prefix + first


def from_slurm_environment(environ: Mapping[str, str] | None = None) -> tuple[int, str]:
    """Node rank and master address of this Slurm task (one task per node)."""
    environ = os.environ if environ is None else environ
    missing = [name for name in ("SLURM_NODEID", "SLURM_JOB_NODELIST") if name not in environ]
    if missing:
        raise BenchbaseError(
            f"--launcher slurm but {', '.join(missing)} is not set (not inside a Slurm allocation)",
            "submit the srun line that `benchbase run ... --launcher slurm --dry-run` prints",
        )
    return int(environ["SLURM_NODEID"]), _first_slurm_host(environ["SLURM_JOB_NODELIST"])


def slurm_submit_command(nnodes: int, run_argv: list[str], master_port: int) -> list[str]:
    """The ``srun`` line a user submits: one benchbase supervisor per node, each starting torchrun locally."""
    return [
        "srun",
        f"--nodes={nnodes}",
        "--ntasks-per-node=1",
        "benchbase",
        *run_argv,
        "--launcher",
        "slurm",
        "--master-port",
        str(master_port),
    ]
