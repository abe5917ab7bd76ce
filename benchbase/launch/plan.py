"""The launch plan: which processes a run starts, on which CPUs, through which launcher.

One process for 1x1 (the worker directly, no launcher in between). More than one process goes through torchrun
(``python -m torch.distributed.run``): on one node with ``--standalone``, where torchrun picks a free port itself (so
the plan names none; the supervisor records the one the ranks were given); on several nodes with the master address
and the node rank given on the command line, so global rank 0 always lives on node 0 and that node's record is the
main one. Under Slurm (:mod:`benchbase.launch.slurm`) each node's task is such a node, its rank and master read from Slurm;
we never SSH anywhere.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any

from benchbase.contract import Binding
from benchbase.errors import BenchbaseError
from benchbase.launch.threads import POLICY, rank_threads, thread_environment, usable_cpus

WORKER_MODULE = "benchbase.train.worker"
#: torchrun's own default rendezvous port on node 0, used when ``--master-port`` is not given.
DEFAULT_MASTER_PORT = 29500
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
    #: ``None`` where torchrun chooses (``--standalone``); the supervisor records what the ranks were given.
    master_addr: str | None
    master_port: int | None
    bindings: list[Binding | None] = field(default_factory=list)
    #: One line when the bindings had to be narrowed to the CPUs this process may use (see ``fit_to_allowed``).
    binding_note: str | None = None

    @property
    def world_size(self) -> int:
        return self.nnodes * self.nproc_per_node

    @property
    def threads(self) -> list[int]:
        """Intra-op threads of each local rank under the one policy of :mod:`benchbase.launch.threads`."""
        bindings = self.bindings or [None] * self.nproc_per_node
        usable = usable_cpus()
        return [rank_threads(b.cpus if b else None, self.nproc_per_node, usable) for b in bindings]

    def environment(self) -> dict[str, str]:
        """Variables the launched processes need on top of the supervisor's environment: the bindings, the thread
        pools' size (the same for the 1x1 worker as for torchrun's ranks) and, for 1x1, what torchrun would set."""
        env = {BINDINGS_ENV: json.dumps([list(b.cpus) if b else None for b in self.bindings])}
        env.update(thread_environment(self.threads))
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
            "binding_note": self.binding_note,
            "threads": self.threads,
            "thread_policy": POLICY,
            "thread_env": thread_environment(self.threads),
        }


def binding_method() -> str:
    """How the CPU binding is applied, for ``--dry-run`` and ``env.json``.

    Each rank pins itself with ``sched_setaffinity`` before it builds anything (see ``benchbase.train.worker``), which
    needs nothing installed; whether ``numactl`` is present is stated so a reader of the record need not wonder.
    """
    numactl = shutil.which("numactl")
    return "sched_setaffinity in each rank; " + (f"numactl found at {numactl}" if numactl else "numactl not installed")


def plan_launch(
    nnodes: int,
    nproc_per_node: int,
    worker_args: list[str],
    *,
    node_rank: int = 0,
    master_addr: str | None = None,
    master_port: int | None = None,
    bindings: list[Binding | None] | None = None,
    binding_note: str | None = None,
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
        return LaunchPlan("single", worker, 1, 1, 0, None, None, bindings, binding_note)
    torchrun = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc_per_node}"]
    addr: str | None = None
    port: int | None = None
    if nnodes == 1:
        # torchrun --standalone overrides any --rdzv-endpoint with a port of its own choosing, so none is passed.
        torchrun += ["--standalone"]
    else:
        port = master_port or DEFAULT_MASTER_PORT
        addr = str(master_addr)
        torchrun += [
            f"--nnodes={nnodes}",
            f"--node-rank={node_rank}",
            f"--master-addr={addr}",
            f"--master-port={port}",
        ]
    torchrun += ["--max-restarts=0", "--module", WORKER_MODULE, *worker_args]
    return LaunchPlan("torchrun", torchrun, nnodes, nproc_per_node, node_rank, addr, port, bindings, binding_note)

