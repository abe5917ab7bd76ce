"""The ``auto`` launcher: this machine is a node of the job, started by hand (or by a script of the user's).

What it starts is the launch plan (:mod:`benchbase.launch.plan`): the worker itself for 1x1, torchrun otherwise. The
node rank and master come from the command line, as torchrun takes them.
"""

from __future__ import annotations

from benchbase.contract import Launcher


class LocalLauncher(Launcher):
    """Runs the node's ranks here and now; a multi-node run starts one of these on every node."""

    name = "auto"
    description = "this machine: the worker itself for 1x1, torchrun otherwise (--node-rank and --master-addr by hand)"

    def placement(self, nnodes: int, node_rank: int, master_addr: str | None, dry_run: bool) -> tuple[int, str | None]:
        """What the command line says: each node of a multi-node run is told its rank and its master."""
        return node_rank, master_addr
