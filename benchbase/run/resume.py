"""Every rule of a resume: which options it refuses, the config and topology it takes from the record, and what the
record must hold before the supervisor touches it.

A resumed run continues with the config, the topology and the folder it was started with; its ``config_hash``
proves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchbase.config.resolve import ResolvedConfig
from benchbase.contract import Case, Vendor
from benchbase.errors import BenchbaseError
from benchbase.record.rundir import RecordError, RunDir
from benchbase.record.schema import (
    CHECKPOINT_FILE,
    COMPLETED_STATUSES,
    DIVERGED,
    READABLE_SUMMARY_SCHEMAS,
    SUMMARY_SCHEMA,
)


def resolved_from_record(run_dir: Path, case: Case, vendor: Vendor) -> ResolvedConfig:
    """The recorded config, refused for another case or vendor than the command line names."""
    record = RunDir.open(run_dir).read_config()
    if record.get("case") != case.name or record.get("vendor") != vendor.name:
        raise BenchbaseError(
            f"{run_dir} is a run of {record.get('case')} on {record.get('vendor')}",
            f"resume it with `benchbase run {record.get('case')} --vendor {record.get('vendor')} --resume {run_dir}`",
        )
    return ResolvedConfig.from_record(record)


def recorded_topology(run_dir: Path) -> str:
    """The ``NxM`` the run was started with, which a resume without ``--config`` keeps."""
    return str(RunDir.open(run_dir).read_config().get("topology", "1x1"))


#: ``run`` options a ``--resume`` cannot honour: the run continues with the config and in the folder it has.
NOT_ON_RESUME = ("--set", "--set-file", "--preset", "--variant", "--unofficial", "--out", "--repeat")


def refuse_ignored_on_resume(
    resume_dir: Path,
    sets: tuple[str, ...],
    set_file: Path | None,
    preset: str | None,
    variant: str | None,
    unofficial: bool,
    out_given: bool,
    repeat: int,
    timeout: float | None,
) -> None:
    """A resumed run keeps its recorded config (its ``config_hash`` proves it) and its folder, so options that would
    change them are refused rather than silently dropped. ``--timeout`` applies: it bounds the new attempt."""
    given = [name for name, present in zip(NOT_ON_RESUME, (
        bool(sets), set_file is not None, preset is not None, variant is not None, unofficial, out_given, repeat > 1,
    )) if present]
    if given:
        raise BenchbaseError(
            f"--resume {resume_dir} continues the run with the config and folder it was started with, so "
            f"{', '.join(given)} cannot apply",
            "drop them, or start a new run with them",
        )
    if timeout is not None and not timeout >= 0:
        raise BenchbaseError(f"bad value {timeout:g} for --timeout", "expected a number of seconds >= 0 (0 = no limit)")


def _previous_summary(run_dir: RunDir) -> dict[str, Any]:
    """The record's summary; one that an earlier benchbase wrote (schema 1, which ``benchbase report`` still reads)
    is refused as such, never called damaged."""
    try:
        return run_dir.read_summary()
    except RecordError:
        refuse_older_schema(run_dir)
        raise


def refuse_older_schema(run_dir: RunDir) -> None:
    """A resume continues a record in the schema this benchbase writes: a run stopped by an earlier version (summary
    schema 1) would end as a record of two schemas, which no reader could take for either. Refused with that reason;
    the record, intact, stays readable by ``benchbase report``."""
    try:
        version = RunDir._read_json(Path(run_dir.summary_path)).get("schema")
    except RecordError:
        return
    if version in READABLE_SUMMARY_SCHEMAS and version != SUMMARY_SCHEMA and not isinstance(version, bool):
        raise BenchbaseError(
            f"{run_dir.path} was recorded by an earlier benchbase (summary schema {version}); --resume continues only "
            f"runs recorded in schema {SUMMARY_SCHEMA}",
            "keep it as it is (benchbase report reads it), and start the run again to continue it",
        )


def check_resumable(run_dir: RunDir, world_size: int) -> dict[str, Any]:
    """Everything a resume needs, checked before the record is touched: a failed check leaves it as it was.

    The checkpoint is read memory-mapped (and with ``weights_only``), so vetting a large one costs little.
    """
    previous = _previous_summary(run_dir)
    if previous["status"] in (*COMPLETED_STATUSES, DIVERGED):  # a diverged run would diverge again from its checkpoint
        raise BenchbaseError(
            f"{run_dir.path} already finished ({previous['status']}); only a stopped run can be resumed",
            "start a new run instead",
        )
    # The worker's module needs torch; imported here so commands that never resume start without it.
    from benchbase.train.checkpoint import read_checkpoint

    checkpoint = Path(run_dir.checkpoint_dir) / CHECKPOINT_FILE
    if not checkpoint.exists():
        raise BenchbaseError(
            f"{run_dir.path} has no checkpoint to resume from",
            "resume a run that was started with --set checkpoint_every=N and saved at least once",
        )
    loop = read_checkpoint(checkpoint, mmap=True)["loop"]
    saved_world = loop.get("world_size") if isinstance(loop, dict) else None
    if not isinstance(saved_world, int):
        raise BenchbaseError(f"{checkpoint} holds no loop state", "start the run again")
    if saved_world != world_size:
        raise BenchbaseError(
            f"{run_dir.path} was checkpointed by {saved_world} ranks but --config asks for {world_size}",
            f"resume with the --config the run started with ({run_dir.read_config().get('topology', '?')})",
        )
    return previous


def check_checkpoint_fits(
    run_dir: RunDir, case: Case, vendor: Vendor, config: Mapping[str, Any], prepared: Mapping[str, Any]
) -> None:
    """The run's checkpoint against the model it will be loaded into (:mod:`benchbase.train.checkpoint_vet`), once
    this node's data is prepared (the model's shapes may depend on it) and before the record is reopened: a
    checkpoint that does not fit is refused in one line and the record stays as it was."""
    from benchbase.train.checkpoint import read_checkpoint
    from benchbase.train.checkpoint_vet import vet_checkpoint

    checkpoint = Path(run_dir.checkpoint_dir) / CHECKPOINT_FILE
    vet_checkpoint(checkpoint, read_checkpoint(checkpoint, mmap=True)["workload"], case, vendor, config, prepared)
