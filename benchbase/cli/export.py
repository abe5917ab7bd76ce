"""``benchbase export``: a run record in another tool's format."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from benchbase.cli.output import print_text
from benchbase.errors import BenchbaseError


@click.group("export")
def export_group() -> None:
    """Write a run record in another tool's format."""


@export_group.command("mlperf")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--output", type=click.Path(path_type=Path), help="Write the result log to this file (default: stdout).")
@click.option("--org", default="benchbase", show_default=True, help="submission_org: who ran it.")
@click.option("--division", type=click.Choice(["closed", "open"]),
              help="submission_division [default: closed for an official run of the case's official preset, "
                   "open otherwise].")
@click.option("--platform", help="submission_platform [default: <nodes>x<processes per node>x<device model>].")
@click.option("--submission-status", type=click.Choice(["research", "onprem", "cloud"]), default="research",
              show_default=True, help="submission_status: how available the system is.")
def export_mlperf_command(
    run_dir: Path, output: Path | None, org: str, division: str | None, platform: str | None, submission_status: str
) -> None:
    """Export RUN_DIR as an MLPerf training result log (:::MLLOG lines; see docs/mlperf.md).

    Check it with MLPerf's own checker and the ruleset benchbase ships for the case; the command is printed after
    the file is written.
    """
    from benchbase.export.mlperf import ExportOptions, checker_command, export_run, format_lines
    from benchbase.record.atomic import atomic_write_text
    from benchbase.record.rundir import RunDir

    options = ExportOptions(org=org, division=division, platform=platform, submission_status=submission_status)
    lines = export_run(run_dir, options)
    text = format_lines(lines)
    if output is None:
        click.echo(text, nl=False)
        return
    from benchbase.report.output import refuse_output_in_records

    refuse_output_in_records(output, [run_dir])
    try:
        atomic_write_text(output, text)
    except OSError as exc:
        raise BenchbaseError(f"cannot write {output}: {exc.strerror}", "choose a writable --output path") from None
    case = str(RunDir.open(run_dir).read_summary()["case"])
    status = next(line["metadata"]["status"] for line in lines if line["key"] == "run_stop")
    print_text(f"wrote {output} ({len(lines)} lines, run_stop status {status})")
    print_text(f"check it with: {shlex.join(checker_command(output, case))}")
