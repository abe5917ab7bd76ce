"""``benchbase verify``: whether each record proves its own figures (docs/records.md, "What verify guarantees")."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import click

from benchbase.cli.output import print_text

#: Exit code when a record does not verify: apart from bad input (2) and from an error of benchbase itself (1).
NOT_VERIFIED_EXIT = 3


@click.command("verify")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def verify_command(paths: tuple[Path, ...]) -> None:
    """Recompute every figure of each run's summary from its raw files and check the record's consistency.

    One line per finding; exit 0 only when every record verifies, 3 when one does not. Nothing is written.
    """
    from benchbase.verify.folders import run_folders
    from benchbase.verify.record import verify_run

    folders = run_folders(paths)
    find_case = functools.cache(lambda name: _registry().case(name))
    failed = 0
    for folder in folders:
        verdict = verify_run(folder, find_case)
        for note in verdict.notes:
            print_text(f"{verdict.run_id}: note: {note}")
        if verdict.verified:
            print_text(f"{verdict.run_id}: verified")
            continue
        failed += 1
        for finding in verdict.findings:
            print_text(f"{verdict.run_id}: {finding}")
    print_text(f"{len(folders) - failed} of {len(folders)} record(s) verified")
    if failed:
        sys.exit(NOT_VERIFIED_EXIT)


@functools.cache
def _registry() -> Any:
    from benchbase.registry.plugins import load_checked_registry

    return load_checked_registry()
