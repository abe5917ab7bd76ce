"""From ``benchbase run``'s options to what this node does: a :class:`RunRequest` to execute (or show, for
``--dry-run``), or a job written down for the user to submit.

The order of the checks is the user's: options a resume cannot honour are refused before any plugin loads, the
config is resolved before the launcher places this node, and the data folder is checked before anything starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchbase.config.resolve import collect_overrides, parse_topology, resolve_for
from benchbase.contract import JobShape, Submission
from benchbase.errors import BenchbaseError
from benchbase.launch.slurm import in_step
from benchbase.launch.slurm_job import requeued_record, restart_count
from benchbase.launch.slurm_site import SITE_OPTIONS
from benchbase.registry import bounded
from benchbase.registry.plugins import load_checked_registry
from benchbase.run.prepare import check_data_dir
from benchbase.run.request import RunRequest, default_cache_dir
from benchbase.run.resume import recorded_topology, refuse_ignored_on_resume, resolved_from_record
from benchbase.run.watchdog import Watchdog


@dataclass(frozen=True)
class RunOptions:
    """``benchbase run``'s options as the user gave them."""

    case_name: str
    vendor_name: str
    topology: str | None
    preset: str | None
    variant: str | None
    data_dir: Path | None
    cache_dir: Path | None
    repeat: int
    sets: tuple[str, ...]
    set_file: Path | None
    unofficial: bool
    out: Path
    #: Whether ``--out`` was given rather than left at its default (a resume refuses it).
    out_given: bool
    dry_run: bool
    resume_dir: Path | None
    timeout: float | None
    node_rank: int
    master_addr: str | None
    master_port: int | None
    launcher: str
    #: The image a launcher that writes a job names (``--container-image``), ``None`` when not given.
    container_image: str | None
    sysfs_root: Path
    #: The command line after the program name, which a job to submit repeats on each of its nodes.
    argv: list[str]
    #: The options only a launcher reads (``--partition``, ``--requeue``...), those given, by parameter name.
    launcher_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedRun:
    """What this node does: execute ``request`` (or show it), and, for a launcher that writes a job to submit, that
    job (``written`` says where, once written; a dry run only shows it)."""

    request: RunRequest | None
    submission: Submission | None = None
    written: Path | None = None


def plan_run(options: RunOptions) -> PlannedRun:
    """Resolve the config (or take the recorded one on ``--resume``), place this node through the launcher, and
    either build the request or write the job the launcher needs submitted."""
    _refuse_launcher_options_without_a_job(options)
    resume_dir = options.resume_dir or _requeued_record(options)
    if options.resume_dir is not None:
        refuse_ignored_on_resume(resume_dir, options.sets, options.set_file, options.preset, options.variant,
                                 options.unofficial, options.out_given, options.repeat, options.timeout)
    # A plugin hanging while it imports, or stuck in C in the vendor's device_model() that resolving asks for, is
    # held to --timeout too (the run's own clock starts in execute()). One watchdog for both: each is a process
    # whose start and exit every command waits for.
    with bounded.deadline_within(options.timeout), Watchdog.start(options.timeout):
        registry = load_checked_registry()
        case = registry.case(options.case_name)
        vendor = registry.vendor(options.vendor_name)
        launcher = registry.launcher(options.launcher)
        topology = options.topology
        if topology is None:
            topology = recorded_topology(resume_dir) if resume_dir else "1x1"
        nnodes, nproc = parse_topology(topology)
        preset = options.preset
        if resume_dir is not None:
            resolved = resolved_from_record(resume_dir, case, vendor)
            preset = resolved.preset
        else:
            overrides = collect_overrides(options.set_file, options.sets, options.timeout)
            resolved = resolve_for(case, vendor, preset, nnodes, nproc, overrides, options.unofficial,
                                   options.variant)
    _refuse_requeue_without_checkpoints(options, resolved.values)
    if not options.dry_run:
        check_data_dir(case, preset, options.data_dir)
    submission = None
    if options.dry_run or not launcher.runs_here():
        # Not yet a node of the job: describe the whole job, which the user submits.
        submission = launcher.submission(JobShape(
            case.name, vendor.name, nnodes, nproc,
            devices_per_node=None if vendor.ranks_share_devices else nproc,
            run_argv=options.argv, master_port=options.master_port, out_root=options.out,
            container_image=options.container_image, device_resource=vendor.kubernetes_resource,
            launcher_options=options.launcher_options,
        ))
        if submission is not None and not options.dry_run:
            return PlannedRun(request=None, submission=submission, written=submission.write())
    node_rank, master_addr, master_port = launcher.rendezvous(
        nnodes, nproc, options.node_rank, options.master_addr, options.master_port, options.dry_run)
    request = RunRequest(
        case=case,
        vendor=vendor,
        resolved=resolved,
        nnodes=nnodes,
        nproc_per_node=nproc,
        out_root=options.out,
        cache_dir=options.cache_dir or default_cache_dir(),
        data_dir=options.data_dir,
        node_rank=node_rank,
        master_addr=master_addr,
        master_port=master_port,
        sysfs_root=options.sysfs_root,
        resume_dir=resume_dir,
        timeout_s=options.timeout,
    )
    return PlannedRun(request=request, submission=submission)


def _requeued_record(options: RunOptions) -> Path | None:
    """The record to continue when this is a Slurm job's step run again after a requeue: the one this node started
    in the job's earlier attempt (:mod:`benchbase.launch.slurm_job`). Its command line is the one that started that
    record, so the options a ``--resume`` refuses are the record's own here, and the record's config is taken."""
    if options.launcher != "slurm" or options.resume_dir is not None or not in_step() or restart_count() == 0:
        return None
    node = os.environ.get("SLURM_NODEID", "")
    return requeued_record(options.out, os.environ.get("SLURM_JOB_ID", ""), int(node) if node.isdigit() else 0)


def _refuse_launcher_options_without_a_job(options: RunOptions) -> None:
    """Options only a launcher that writes a job reads are refused where no job is written, before any plugin
    loads."""
    given = [SITE_OPTIONS.get(key, key) for key in options.launcher_options]
    if options.container_image is not None:
        given.insert(0, "--container-image")  # run's own option, read by the launchers that write a job
    if given and options.launcher == "auto":
        verb = "applies" if len(given) == 1 else "apply"
        launchers = "--launcher slurm or kubernetes" if given == ["--container-image"] else "--launcher slurm"
        raise BenchbaseError(f"{', '.join(given)} only {verb} to a job a launcher writes, and --launcher is auto",
                             f"add {launchers}, or drop {'it' if len(given) == 1 else 'them'}")


def _refuse_requeue_without_checkpoints(options: RunOptions, values: dict[str, Any]) -> None:
    """A requeued job resumes from the record's last checkpoint; a run that writes none would start again."""
    if options.launcher_options.get("requeue") and not values.get("checkpoint_every"):
        raise BenchbaseError("--requeue resumes a preempted job from its last checkpoint, and this run writes none",
                             "add --set checkpoint_every=N (steps between checkpoints)")
