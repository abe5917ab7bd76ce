"""``benchbase export``: a run record in another tool's format."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from benchbase.cli.output import print_text
from benchbase.errors import BenchbaseError

if TYPE_CHECKING:
    from benchbase.report.run import Run


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
    from benchbase.export.mlperf.export import ExportOptions, checker_command, export_run, format_lines
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


@export_group.command("tensorboard")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--logdir", type=click.Path(path_type=Path), default=Path("reports/tensorboard"), show_default=True,
              help="TensorBoard log directory; each run becomes a sub-folder named like its run folder.")
def export_tensorboard_command(run_dirs: tuple[Path, ...], logdir: Path) -> None:
    """Write each run's series and figures as TensorBoard event files (needs benchbase-core[tensorboard]).

    View them with: tensorboard --logdir reports/tensorboard
    """
    from benchbase.export.trackers import export_to_tensorboard

    _refuse_folder_in_records(logdir, "--logdir", run_dirs)
    runs = _runs_to_export(run_dirs)
    try:
        logdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchbaseError(f"cannot create {logdir}: {exc.strerror}", "choose a writable --logdir") from None
    for run in runs:
        target, written = export_to_tensorboard(run, logdir)
        print_text(f"wrote {target} ({written} points)")
    print_text(f"view them with: {shlex.join(['tensorboard', '--logdir', str(logdir)])}")


@export_group.command("mlflow")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--store", type=click.Path(path_type=Path), default=Path("reports/mlruns"), show_default=True,
              help="MLflow file store (a folder; created if missing).")
@click.option("--experiment", default="benchbase", show_default=True, help="MLflow experiment the runs go into.")
def export_mlflow_command(run_dirs: tuple[Path, ...], store: Path, experiment: str) -> None:
    """Write each run's series, figures, configuration and identity into an MLflow file store (needs
    benchbase-core[mlflow]).

    View them with: MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri reports/mlruns (the full mlflow package)
    """
    from benchbase.export.trackers import export_to_mlflow

    if not experiment.strip():
        raise BenchbaseError("--experiment is empty", "name the MLflow experiment, or leave the option out")
    _refuse_folder_in_records(store, "--store", run_dirs)
    runs = _runs_to_export(run_dirs)
    for run in runs:
        mlflow_id, written = export_to_mlflow(run, store, experiment)
        print_text(f"wrote {run.run_id} as MLflow run {mlflow_id} of experiment {experiment} in {store} "
                   f"({written} points)")
    viewer = shlex.join(["mlflow", "ui", "--backend-store-uri", str(store)])
    print_text(f"view them with: MLFLOW_ALLOW_FILE_STORE=true {viewer} (the full mlflow package has the viewer)")


def _refuse_folder_in_records(folder: Path, option: str, run_dirs: tuple[Path, ...]) -> None:
    """A tracker's folder is neither a file, nor a run folder, a folder of runs, or anywhere inside them: the next
    report would take what the export wrote there for a broken record."""
    from benchbase.report.output import refuse_output_in_records

    if folder.exists() and not folder.is_dir():
        raise BenchbaseError(f"{option} {folder} is not a folder", f"give {option} a folder (it is created if missing)")
    try:
        refuse_output_in_records(folder / "export", list(run_dirs))
    except BenchbaseError:
        raise BenchbaseError(f"{option} {folder} is inside the records it exports",
                             f"give {option} a folder outside the run folders, e.g. under reports/") from None


def _runs_to_export(run_dirs: tuple[Path, ...]) -> tuple[Run, ...]:
    """The finished runs under ``run_dirs``; each record left out is named on stderr."""
    from benchbase.cli.output import err_console
    from benchbase.export.trackers import exportable_runs

    runs, left_out = exportable_runs(list(run_dirs))
    for line in left_out:
        print_text(f"left out: {line}", err_console)
    return runs
