"""Finding run records on disk and reading them without ever crashing on a bad one.

A path is a run directory (it holds ``summary.json`` or another record file) or a folder of run directories such as
``reports/runs`` (looked into one level deep). Only ``summary.json`` is read here, which keeps a report over hundreds
of runs fast; events and telemetry are read later, only by the HTML plots. Every record that cannot be used becomes
a :class:`Skipped` line with the reason, because a report must survive one corrupt directory among two hundred.
A path the user typed that does not exist is different: that is a mistake to fix, so it raises.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from benchbase.errors import BenchbaseError
from benchbase.record.files import JsonTooDeep, RecordError, RecordMissing, loads_bounded, max_bytes, read_record_bytes
from benchbase.record.schema import RECORD_FILES, RUNNING, SUMMARY_FILE
from benchbase.report.multinode import merge_parts
from benchbase.report.run import Run, SummaryError, parse_summary

STILL_RUNNING = "still running (or the supervisor was killed)"
#: A summary is a few kilobytes; a file beyond this is not one (the record layer's bound, benchbase.record.files).
MAX_SUMMARY_BYTES = max_bytes(Path(SUMMARY_FILE))


class Skipped(NamedTuple):
    """A record the report left out, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class LoadResult:
    """The usable runs (multi-node runs already merged) and the records left out."""

    runs: tuple[Run, ...]
    skipped: tuple[Skipped, ...]


def load_runs(paths: Iterable[Path | str]) -> LoadResult:
    """Read every run under ``paths`` (run directories or folders of them)."""
    candidates: list[tuple[Path, Path]] = []
    skipped: list[Skipped] = []
    for given in paths:
        _collect(Path(given), candidates, skipped)
    seen: set[Path] = set()
    records: list[Run] = []
    for directory, key in candidates:
        if key in seen:
            continue
        seen.add(key)
        outcome = _read_record(directory)
        if isinstance(outcome, Skipped):
            skipped.append(outcome)
        else:
            records.append(outcome)
    runs = _assemble(records, skipped)
    return LoadResult(
        runs=tuple(sorted(runs, key=lambda run: (run.started_at or "", run.run_id))),
        skipped=tuple(skipped),
    )


def _collect(path: Path, candidates: list[tuple[Path, Path]], skipped: list[Skipped]) -> None:
    """Add the run directories at ``path`` to ``candidates``, each with its resolved path (the key that finds a
    directory given twice); a folder's own children are resolved through the folder, once, unless a link."""
    if not path.exists():
        raise BenchbaseError(
            f"{path} does not exist", "pass run directories or a folder of them (e.g. reports/runs)"
        )
    if path.is_file():
        if path.name == SUMMARY_FILE:
            candidates.append((path.parent, path.parent.resolve()))
        else:
            skipped.append(Skipped(path, "not a run directory (a file)"))
        return
    if _is_run_dir(path):
        candidates.append((path, path.resolve()))
        return
    try:
        entries = sorted(os.scandir(path), key=lambda entry: entry.name)
    except OSError as err:
        skipped.append(Skipped(path, f"cannot list the folder ({err.strerror or err})"))
        return
    resolved = path.resolve()
    for entry in entries:
        if entry.name.startswith("."):
            continue
        child = Path(entry.path)
        if entry.is_dir():
            candidates.append((child, child.resolve() if entry.is_symlink() else resolved / entry.name))
        else:
            skipped.append(Skipped(child, "not a run directory (a file)"))


def _is_run_dir(path: Path) -> bool:
    return any((path / name).exists() for name in RECORD_FILES)


def _read_record(directory: Path) -> Run | Skipped:
    """The run of one folder, read through the record layer (:mod:`benchbase.record.files`: no symlink, no FIFO or
    device, bounded in size, depth and numbers), or why it is left out."""
    summary = directory / SUMMARY_FILE
    try:
        text = read_record_bytes(summary).decode("utf-8")
    except RecordMissing:
        return Skipped(directory, f"no {SUMMARY_FILE} (not a run directory, or the run never started)")
    except RecordError as err:
        return Skipped(directory, str(err).replace(str(summary), SUMMARY_FILE))
    except UnicodeDecodeError as err:
        return Skipped(directory, f"cannot read {SUMMARY_FILE} ({err})")
    try:
        data = loads_bounded(text)
    except json.JSONDecodeError as err:
        return Skipped(
            directory,
            f"{SUMMARY_FILE} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}): "
            "truncated or hand-edited",
        )
    except JsonTooDeep:
        return Skipped(directory, f"{SUMMARY_FILE} is nested too deeply to be a summary: damaged or hand-edited")
    if isinstance(data, dict) and data.get("status") == RUNNING:
        return Skipped(directory, STILL_RUNNING)
    try:
        return parse_summary(data, directory)
    except SummaryError as err:
        return Skipped(directory, str(err))


def _assemble(records: list[Run], skipped: list[Skipped]) -> list[Run]:
    """Merge multi-node parts into their main run; refuse duplicates and orphans with a reason."""
    mains: dict[str, Run] = {}
    parts: dict[str, dict[int, Run]] = {}
    for record in records:
        if record.node_rank == 0:
            if record.run_id in mains:
                skipped.append(
                    Skipped(record.path, f"run id {record.run_id} also read from {mains[record.run_id].path}")
                )
            else:
                mains[record.run_id] = record
            continue
        if record.main_run_id is None:
            skipped.append(Skipped(record.path, f"node_rank {record.node_rank} record names no main_run_id"))
            continue
        of_main = parts.setdefault(record.main_run_id, {})
        if record.node_rank in of_main:
            skipped.append(
                Skipped(
                    record.path,
                    f"node {record.node_rank} of run {record.main_run_id} also read from "
                    f"{of_main[record.node_rank].path}",
                )
            )
        else:
            of_main[record.node_rank] = record
    for main_id, of_main in parts.items():
        if main_id not in mains:
            skipped.extend(
                Skipped(
                    part.path,
                    f"node {part.node_rank} of multi-node run {main_id}, whose main record (node_rank 0) was not "
                    "loaded; pass its directory too",
                )
                for part in of_main.values()
            )
    return [merge_parts(main, parts.get(run_id, {}).values()) for run_id, main in mains.items()]
