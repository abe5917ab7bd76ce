"""Slurm as a launcher: the batch script benchbase writes, and what the node's task inside that job reads from Slurm.

One Slurm task per node runs ``benchbase run ... --launcher slurm``: that node's supervisor, which starts the node's
ranks through torchrun exactly as a node started by hand does, so a Slurm run is recorded, bound and judged like any
other. The script asks for whole nodes (``--exclusive``) and gives the one task every CPU the job holds on its node
(``srun --cpus-per-task``, counted when the job runs, so it fits the compute nodes whatever machine wrote the script):
under ``task/affinity`` a task otherwise runs on a single CPU, and the ranks inherit that limit. Global rank 0 and the
rendezvous live on the allocation's first node, reached at the address Slurm itself uses for it (``NodeAddr``), so
node names need not resolve. benchbase never calls ``sbatch`` or ``srun`` itself: the user submits the script, so the
job is theirs to queue, account and cancel.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from benchbase.contract import JobShape, Launcher, Submission
from benchbase.errors import BenchbaseError
from benchbase.foreign import has_control, visible
from benchbase.launch.argv import node_argv
from benchbase.launch.plan import DEFAULT_MASTER_PORT
from benchbase.launch.slurm_site import SITE_OPTIONS, SlurmSite

#: ``benchbase run`` options the script sets itself for every task, or that only the script reads (the site's),
#: dropped from the user's command line; ``_STEP_FLAGS`` are those that take no value.
_STEP_FLAGS = ("--dry-run", SITE_OPTIONS["requeue"])
_STEP_OPTIONS = ("--launcher", "--master-addr", "--master-port", "--node-rank", "--container-image",
                 *(option for option in SITE_OPTIONS.values() if option not in _STEP_FLAGS))


class SlurmLauncher(Launcher):
    """Outside a job step it writes the batch script (:class:`BatchJob`); inside the step, each node's task takes its
    node rank and master from Slurm."""

    name = "slurm"
    description = "a Slurm batch script to submit with sbatch; inside its srun step, placement read from Slurm"

    def runs_here(self) -> bool:
        """Only a task of the job's step is a node of the job."""
        return in_step()

    def submission(self, job: JobShape) -> BatchJob:
        """The batch script for ``job``."""
        return batch_job(
            job.case, job.vendor, job.nnodes, job.nproc_per_node,
            gpus_per_node=job.devices_per_node, run_argv=job.run_argv, master_port=job.master_port,
            out_root=job.out_root,
            site=SlurmSite.from_options({**job.launcher_options, "container_image": job.container_image}),
        )

    def placement(self, nnodes: int, node_rank: int, master_addr: str | None, dry_run: bool) -> tuple[int, str | None]:
        """From the step (:func:`step_placement`); a dry run, which writes the script, shows the first node's."""
        if dry_run:
            return 0, master_addr or "<NodeAddr of the job's first node>"
        return step_placement(nnodes, master_addr)


@dataclass(frozen=True)
class BatchJob(Submission):
    """One benchbase run as a Slurm batch job: one task per node, each the node's supervisor."""

    title = "Slurm batch script"

    name: str
    nnodes: int
    nproc_per_node: int
    #: Devices per node for vendors whose ranks each drive one; ``None`` for the host CPU.
    gpus_per_node: int | None
    #: ``benchbase run ...`` as each task runs it, without the options the script adds.
    run_command: list[str]
    master_port: int
    #: Where the job runs, so relative paths on the command line mean what they meant when the script was written.
    workdir: Path
    script_path: Path
    #: The site's options: queue, time limit, other sbatch options, container, requeue.
    site: SlurmSite = SlurmSite()

    def __post_init__(self) -> None:
        """Refuse what no quoting can carry: sbatch reads each ``#SBATCH`` line up to its end, so a newline in the
        working directory or the log's path would end the directive and start a shell line of the path's choosing,
        and any other control character would reach the job's shell or the terminal that shows the script."""
        named = [("the working directory", str(self.workdir)), ("the batch script's path", str(self.script_path)),
                 ("the job name", self.name)]
        named += [("an argument of the run", arg) for arg in self.run_command]
        for what, text in named:
            if has_control(text):
                raise BenchbaseError(
                    f"cannot write a Slurm batch script: {what} holds a control character ({visible(text)})",
                    "run from, and name, paths and values without newlines or other control characters",
                )

    @property
    def output_path(self) -> Path:
        """The job's log, beside the script (``%j`` is the job id)."""
        return self.script_path.with_name(f"{self.script_path.stem}-%j.out")

    def text(self) -> str:
        """The batch script's text; ``sbatch FILE`` submits it, ``bash FILE`` runs it inside an allocation."""
        lines = [
            "#!/bin/bash",
            f"# benchbase, {self.nnodes} node(s) x {self.nproc_per_node} rank(s): one task per node runs that node's",
            "# benchbase supervisor, which starts the node's ranks through torchrun (at least one CPU per rank).",
            f"#SBATCH --job-name={self.name}",
            f"#SBATCH --nodes={self.nnodes}",
            "#SBATCH --ntasks-per-node=1",
            f"#SBATCH --cpus-per-task={self.nproc_per_node}",
        ]
        if self.gpus_per_node is not None:
            lines.append(f"#SBATCH --gpus-per-node={self.gpus_per_node}")
        lines += [
            "#SBATCH --exclusive",
            f"#SBATCH --chdir={shlex.quote(str(self.workdir))}",
            f"#SBATCH --output={shlex.quote(str(self.output_path))}",
            *self.site.directives(),
            "set -euo pipefail",
            "# The task gets every CPU the job holds on a node (all of them: --exclusive), so task/affinity leaves the",
            "# ranks the CPUs their devices are attached to.",
            "cpus_per_node=${SLURM_JOB_CPUS_PER_NODE%%[(,]*}",
        ]
        step = ["srun", f"--nodes={self.nnodes}", "--ntasks-per-node=1", *self.site.srun_options()]
        run_command = self.run_command
        if self.site.container_image is not None:
            # In the image, benchbase is the image's own, found on its PATH, not this machine's.
            run_command = ["benchbase", *run_command[1:]]
        command = shlex.join(step) + ' --cpus-per-task="$cpus_per_node" '
        command += shlex.join([*run_command, "--launcher", "slurm"])
        if self.nnodes > 1:
            lines += [
                "# Global rank 0 runs on the allocation's first node; reach it where Slurm does (its NodeAddr).",
                'master_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | sed -n 1p)',
                "master_addr=$(scontrol show node \"$master_node\" | grep -o 'NodeAddr=[^ ]*' | cut -d= -f2)",
            ]
            command += f' --master-addr "$master_addr" --master-port {self.master_port}'
        if self.site.requeue:
            lines += [
                "# A requeued job (SLURM_RESTART_COUNT > 0) runs this script again: each node's benchbase then finds",
                "# the record it started under this job id and resumes it from its last checkpoint.",
            ]
        if self.site.warning is None:
            lines.append(command)
        else:
            lines += _requeue_on_signal(command, self.site.warning[0])
        return "\n".join(lines) + "\n"

    def write(self) -> Path:
        """Write the script, replacing one written before for the same case, vendor and topology."""
        try:
            self.script_path.parent.mkdir(parents=True, exist_ok=True)
            self.script_path.write_text(self.text())
        except OSError as exc:
            raise BenchbaseError(
                f"cannot write the batch script {self.script_path} ({exc.strerror or exc})",
                "choose an --out whose parent folder is writable",
            ) from None
        return self.script_path

    def dry_run_note(self) -> str:
        return (f"without --dry-run, written to {self.script_path} for `sbatch`; each node's task then runs the launch "
                "above")

    def how_to_submit(self, path: Path) -> str:
        """Outside an allocation with sbatch, inside one (salloc) with bash, whose srun line then starts the step in
        the allocation already held."""
        quoted = shlex.quote(str(path))
        how = f"`sbatch {quoted}`"
        if "SLURM_JOB_ID" in os.environ:
            how += f", or run it in this allocation (job {os.environ['SLURM_JOB_ID']}) with `bash {quoted}`"
        return f"submit it with {how}; the job log is {path.stem}-<job id>.out beside it"


def batch_job(
    case: str,
    vendor: str,
    nnodes: int,
    nproc_per_node: int,
    *,
    gpus_per_node: int | None,
    run_argv: list[str],
    master_port: int | None,
    out_root: Path,
    site: SlurmSite | None = None,
) -> BatchJob:
    """The job for ``run_argv`` (the user's ``run ...`` arguments); the script goes beside the runs folder, in
    ``slurm/``, because the report reads every entry of the runs folder as a run."""
    # A job name is a label: the plugins' names keep their letters, digits, dots and dashes, so the unquoted
    # ``#SBATCH --job-name=`` line and the script's file name can hold nothing else.
    name = re.sub(r"[^\w.-]", "_", f"benchbase-{case}-{vendor}-{nnodes}x{nproc_per_node}", flags=re.ASCII)
    return BatchJob(
        name=name,
        nnodes=nnodes,
        nproc_per_node=nproc_per_node,
        gpus_per_node=gpus_per_node,
        run_command=[benchbase_executable(), *step_argv(run_argv)],
        master_port=master_port or DEFAULT_MASTER_PORT,
        workdir=Path.cwd(),
        script_path=(Path.cwd() / out_root).resolve().parent / "slurm" / f"{name}.sbatch",
        site=site or SlurmSite(),
    )


def benchbase_executable() -> str:
    """The ``benchbase`` command of this Python environment (the one writing the script), else the one on PATH."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("benchbase", path=search)
    if found is None:
        raise BenchbaseError(
            f"no `benchbase` command beside {sys.executable} or on PATH for the Slurm job to run",
            "install benchbase into this environment (pip install -e .) and write the script again",
        )
    return str(Path(found).absolute())


def step_argv(argv: list[str]) -> list[str]:
    """The user's ``run`` arguments as every task repeats them: without ``--dry-run`` and the options the script sets
    for each task itself (launcher, master, node rank, the site options)."""
    return node_argv(argv, _STEP_OPTIONS, "a Slurm job", flags=_STEP_FLAGS)


def _requeue_on_signal(command: str, signal_name: str) -> list[str]:
    """The step run in the background, so the batch shell handles ``signal_name`` at once (bash runs a trap only
    once its foreground command returns): on the signal it asks Slurm to requeue the job, which stops the step
    (SIGTERM: each node's run ends ``interrupted``, its checkpoints kept) and starts the script again."""
    return [
        f"# Slurm sends SIG{signal_name} to this script before the time limit (--signal): requeue the job then.",
        f"trap 'echo \"benchbase: SIG{signal_name}, requeueing job $SLURM_JOB_ID\"; "
        "scontrol requeue \"$SLURM_JOB_ID\"' " + signal_name,
        command + " &",
        "step=$!",
        "# wait returns early when the trap runs; wait again until the step itself has ended.",
        "while :; do",
        '  status=0; wait "$step" || status=$?',
        '  kill -0 "$step" 2>/dev/null || break',
        "done",
        'exit "$status"',
    ]


def in_step(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a job step started by ``srun`` (the batch script's own shell, or ``salloc``'s, is no step)."""
    return "SLURM_STEP_ID" in (os.environ if environ is None else environ)


def step_placement(
    nnodes: int, master_addr: str | None, environ: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """This task's node rank and the master address, checked against what the step was started with.

    The master is ``--master-addr`` when given (the batch script passes node 0's ``NodeAddr``), else the first host
    of the step's node list, for a step started by hand.
    """
    environ = os.environ if environ is None else environ
    nodes, tasks = environ.get("SLURM_STEP_NUM_NODES"), environ.get("SLURM_STEP_NUM_TASKS")
    if nodes != str(nnodes) or tasks != str(nnodes):
        raise BenchbaseError(
            f"--config asks for {nnodes} node(s) but this Slurm step has {tasks} task(s) on {nodes} node(s)",
            "start one task per node (submit the script `benchbase run ... --launcher slurm` writes)",
        )
    return int(environ["SLURM_NODEID"]), master_addr or first_host(environ["SLURM_STEP_NODELIST"])


def first_host(nodelist: str) -> str:
    """First host of a Slurm node list (``gpu[01-04,07],cpu1`` -> ``gpu01``)."""
    match = re.match(r"([^\[,]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not match:
        raise BenchbaseError(f"cannot read the Slurm node list '{nodelist}'", "pass --master-addr explicitly")
    prefix, ranges = match.group(1), match.group(2)
    if not ranges:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]
