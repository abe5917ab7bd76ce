"""``benchbase run``: one run (or ``--repeat K``) of a case on this node, or the job a launcher writes to submit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from benchbase.cli import output
from benchbase.cli.options import LauncherName, check_address, check_timeout, set_options, slurm_site_options
from benchbase.config.resolve import MAX_TOPOLOGY
from benchbase.launch.slurm_site import SITE_OPTIONS
from benchbase.run.request import DEFAULT_OUT


@click.command("run")
@click.argument("case_name", metavar="CASE")
@click.option("--vendor", "vendor_name", required=True, help="Vendor plugin name (see `benchbase list`).")
@click.option("--config", "topology", help="NxM: N nodes x M processes per node [default: 1x1; on --resume, the run's].")
@click.option("--preset", help="Case preset (default: the case's default, e.g. official).")
@click.option("--variant", help="Named variant of the vendor's tuned config (e.g. bs128 -> BI-V100x1x8-bs128.yaml).")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Folder holding the case's data files.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Where prepared data is cached.")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1, 100), help="Run K times (Stability).")
@set_options
@click.option("--unofficial", is_flag=True, help="Allow changing immutable keys; the result is marked unofficial.")
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True, help="Runs folder.")
@click.option("--dry-run", is_flag=True,
              help="Check what a run checks (its data prepared as a run would), print the resolved config, binding "
                   "and launch plan; start nothing.")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), help="Continue an interrupted run.")
@click.option("--timeout", type=float, callback=lambda _ctx, _param, value: check_timeout(value),
              help="Stop the run after this many seconds (status timeout).")
@click.option("--node-rank", type=click.IntRange(0, MAX_TOPOLOGY - 1), default=0, show_default=True,
              help="This node's rank (multi-node).")
@click.option("--master-addr", callback=lambda _ctx, _param, value: check_address(value),
              help="Address of node 0 (multi-node).")
@click.option("--master-port", type=click.IntRange(1, 65535),
              help="Rendezvous port on node 0 (multi-node; default 29500).")
@click.option("--launcher", type=LauncherName(), default="auto", show_default=True,
              help="slurm: write a batch script for `sbatch` (--dry-run prints it); inside its srun step, each "
                   "node's task takes its node rank and master from Slurm. kubernetes: write a Kubeflow PyTorchJob "
                   "for `kubectl apply` (needs --container-image); inside its pods, placement from PET_* variables.")
@click.option("--container-image", metavar="IMAGE",
              help="The container image the job's nodes run (--launcher kubernetes, e.g. "
                   "registry.example.com/team/benchbase:1.0; --launcher slurm through pyxis, e.g. "
                   "nvcr.io#nvidia/pytorch:24.05-py3).")
@slurm_site_options
@click.option("--sysfs-root", type=click.Path(path_type=Path), default=Path("/sys"), show_default=True,
              help="Where device topology is read (tests point this at a recorded tree).")
def run_command(**options: Any) -> None:
    """Run a benchmark CASE on a vendor's devices and record it under --out."""
    # Imported here: they import the config choices of this package, whose import runs this module.
    from benchbase.run.start import RunOptions, plan_run

    out_given = click.get_current_context().get_parameter_source("out") is not click.core.ParameterSource.DEFAULT
    site = {key: options.pop(key) for key in SITE_OPTIONS}
    given = {key: value for key, value in site.items() if value not in (None, (), False)}
    planned = plan_run(RunOptions(**options, out_given=out_given, argv=sys.argv[1:], launcher_options=given))
    if planned.request is None:
        output.announce_submission(planned.submission, planned.written)
        return
    if options["dry_run"]:
        from benchbase.run.dry_run import dry_run_plan

        request = planned.request
        progress = output.progress_printer()

        def prepare() -> dict[str, Any]:
            return request.case.prepare(dict(request.values), request.data_dir, request.cache_dir, progress)

        output.print_dry_run_config(request)
        output.print_dry_run(request, dry_run_plan(request, prepare), planned.submission)
        return
    from benchbase.run.repeats import run_repeats

    outcomes = run_repeats(planned.request, options["repeat"], output.console, output.progress_printer())
    try:
        output.print_standard_table([o.run_dir for o in outcomes])
    except Exception as exc:  # noqa: BLE001 - the table only repeats the records; it cannot change their outcome
        output.err_console.print(f"note: the results table could not be shown ({type(exc).__name__}: {exc})",
                                 markup=False, highlight=False, soft_wrap=True)
    sys.exit(max(o.exit_code for o in outcomes))
