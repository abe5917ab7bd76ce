"""The ``benchbase`` command line.

Every user mistake ends as one line on stderr naming the problem and the fix, with a non-zero exit code; a run's
exit code says its status (0 converged, 3 not converged, 4 failed, 5 timeout, 130 interrupted; 2 is bad input).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchbase import __version__
from benchbase.launch import slurm
from benchbase.record import disk_space, schema
from benchbase.registry import bounded
from benchbase.run import lock as run_lock
from benchbase.config.coerce import coerce_value
from benchbase.config.parameters import CORE_PARAMETERS
from benchbase.config.resolve import (
    MAX_TOPOLOGY,
    ResolvedConfig,
    choose_preset,
    collect_overrides,
    merge_parameters,
    parse_topology,
    repeat_config,
    resolve_config,
    resolve_for,
)
from benchbase.contract import Case, Vendor
from benchbase.errors import MAX_PROBLEM_CHARS, BenchbaseError, one_line
from benchbase.hardware.host import host_facts
from benchbase.registry.plugins import PluginInfo, Registry, load_registry
from benchbase.record.rundir import RunDir
from benchbase.run.supervisor import RunRequest, dry_run_plan, execute

# Tables are wide; when output is a file or a pipe (CI logs), do not squeeze them into 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=int(os.environ.get("COLUMNS", "200")))
err_console = Console(stderr=True)

DEFAULT_OUT = Path("reports") / "runs"


def default_cache_dir() -> Path:
    """Prepared data lives outside the repo and the run directories, so every run of the same inputs shares it."""
    env = os.environ.get("BENCHBASE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "benchbase"


def _registry() -> Registry:
    """The installed plugins, refused as a whole on any name conflict: every command that picks or lists cases and
    vendors must never pick one of two silently (``benchbase plugins`` alone loads them without this check)."""
    registry = load_registry()
    registry.check()
    return registry


def _check_data_dir(case: Case, preset_name: str | None, data_dir: Path | None) -> None:
    preset = choose_preset(case, preset_name)
    if preset.needs_data_dir and data_dir is None:
        raise BenchbaseError(
            f"preset '{preset.name}' of case {case.name} needs --data-dir",
            "pass --data-dir DIR holding the case's data (see the case README), or use --preset demo",
        )
    if data_dir is not None and not data_dir.is_dir():
        raise BenchbaseError(f"--data-dir {data_dir} is not a directory", "pass the folder that holds the data files")


def _progress_printer() -> Callable[[str, int, int | None], None]:
    last: dict[str, int] = {}

    def progress(stage: str, done: int, total: int | None) -> None:
        step = max((total or 0) // 10, 1)
        if done == total or done - last.get(stage, -step) >= step:
            last[stage] = done
            of = f"/{total}" if total else ""
            err_console.print(f"[dim]{stage}: {done}{of}[/dim]")

    return progress


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="benchbase")
def cli() -> None:
    """benchbase: measure how well AI accelerators train real models.

    Run a case on a vendor's hardware with `benchbase run`, then print the standard table with `benchbase report`.
    """


@cli.command("list")
def list_command() -> None:
    """List installed cases (with their presets) and vendors."""
    registry = _registry()
    registry.check()
    table = Table(title="Cases")
    for column in ("case", "presets", "metric", "description"):
        table.add_column(column)
    for name, case in sorted(registry.cases.items()):
        presets = ", ".join(f"{p}{' (default)' if p == case.default_preset else ''}" for p in case.presets())
        table.add_row(name, presets, case.metric_name, case.description)
    console.print(table)
    table = Table(title="Vendors")
    for column in ("vendor", "default device", "backend", "description"):
        table.add_column(column)
    for name, vendor in sorted(registry.vendors.items()):
        table.add_row(name, vendor.default_device_model, vendor.distributed_backend, vendor.description)
    console.print(table)


@cli.command("plugins")
def plugins_command() -> None:
    """List installed plugins with their distribution, version, hooks and what they provide; broken plugins are shown
    with their error and name conflicts are shown, not refused, so this is where a user sees what to uninstall."""
    registry = load_registry()
    table = Table(title="Plugins (entry-point group 'benchbase')")
    for column in ("plugin", "distribution", "version", "provides", "hooks", "status"):
        table.add_column(column)
    for info in registry.plugins:
        provides = ", ".join([f"case:{c}" for c in info.cases] + [f"vendor:{v}" for v in info.vendors])
        table.add_row(info.name, info.distribution, info.version, provides, ", ".join(info.hooks),
                      _plugin_status(info))
    console.print(table)
    table = Table(title="Cases and vendors, by the distribution that provides them")
    for column in ("kind", "name", "plugin", "distribution", "version"):
        table.add_column(column)
    for (kind, name), info in sorted(registry.origins.items()):
        table.add_row(kind, name, info.name, info.distribution, info.version)
    console.print(table)
    for conflict in registry.conflicts:
        console.print(f"[red]conflict:[/red] {escape(conflict)}", highlight=False, soft_wrap=True)


def _plugin_status(info: PluginInfo) -> str:
    """``ok``, ``conflict`` or the plugin's error, for the status column of ``benchbase plugins``."""
    if info.error:
        return f"[red]error: {escape(info.error)}[/red]"
    if info.conflicts:
        return "[red]conflict (see below)[/red]"
    return "[green]ok[/green]"


@cli.command("env")
@click.option("--vendor", "vendor_name", help="Only this vendor (default: every installed vendor).")
def env_command(vendor_name: str | None) -> None:
    """Show the host and what each vendor finds on it (or, in one line, why it finds nothing)."""
    registry = _registry()
    vendors = [registry.vendor(vendor_name)] if vendor_name else [registry.vendors[n] for n in sorted(registry.vendors)]
    facts = host_facts()
    console.print(f"[bold]host[/bold] {facts['hostname']}: {facts['os']}, Python {facts['python']}, "
                  f"torch {facts['torch']['version']}, {facts['cpu_count_logical']} CPUs, "
                  f"{facts['memory_total_gib']} GiB")
    for vendor in vendors:
        # Each call is bounded (a hung driver is one line naming the plugin), and one vendor's trouble never hides
        # what the others found.
        try:
            devices = bounded.call(vendor, "discover()", vendor.discover)
            found = ", ".join(f"{d.index}: {d.model}" for d in devices)
            console.print(f"[bold]{vendor.name}[/bold]: {len(devices)} device(s): {found}")
        except BenchbaseError as exc:
            console.print(f"[bold]{vendor.name}[/bold]: [yellow]nothing found[/yellow]: {escape(str(exc))}",
                          soft_wrap=True)
            if isinstance(exc, bounded.PluginHang):
                continue
        try:
            console.print_json(json.dumps(bounded.call(vendor, "environment()", vendor.environment), default=str))
        except bounded.PluginHang as exc:
            console.print(f"[bold]{vendor.name}[/bold]: [yellow]no environment[/yellow]: {escape(str(exc))}",
                          soft_wrap=True)


def _set_option(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--set-file",
        "set_file",
        type=click.Path(path_type=Path),
        help="YAML file of KEY: VALUE overrides, applied before --set (same rules as --set).",
    )(function)
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config key (repeatable). Only mutable keys unless --unofficial.",
    )(function)


#: A host name (at most 253 characters, RFC 1035) or an IPv4/IPv6 address, as torchrun's --master-addr takes it.
_ADDRESS = re.compile(r"[A-Za-z0-9._:%\[\]-]{1,253}")


def _check_address(value: str | None) -> str | None:
    """``--master-addr`` is checked here, not first by the rendezvous on every node minutes later."""
    if value is not None and not _ADDRESS.fullmatch(value):
        raise click.BadParameter(
            "expected a host name or an IP address (letters, digits, '.', '-', ':', at most 253 characters)",
            param_hint="'--master-addr'",
        )
    return value


def _check_timeout(value: float | None) -> float | None:
    """``--timeout`` is checked against ``timeout_s``'s range as it is parsed, before any plugin call runs under it
    (click's float takes ``nan`` and ``1e308``)."""
    if value is not None:
        coerce_value("timeout_s", CORE_PARAMETERS["timeout_s"], value, "--timeout")
    return value


@cli.command("prepare")
@click.argument("case_name", metavar="CASE")
@click.option("--preset", help="Case preset (default: the case's default).")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Folder holding the case's data files.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Where prepared data is cached.")
@click.option("--from-large", type=click.Path(path_type=Path),
              help="Folder of the released model-parallel shards; writes the case's starting checkpoint.")
@_set_option
def prepare_command(
    case_name: str,
    preset: str | None,
    data_dir: Path | None,
    cache_dir: Path | None,
    from_large: Path | None,
    sets: tuple[str, ...],
    set_file: Path | None,
) -> None:
    """Prepare a case's data (tokenize and cache) without training; a second call is a cache hit."""
    registry = _registry()
    case = registry.case(case_name)
    cache = cache_dir or default_cache_dir()
    if from_large is not None:
        written = case.convert_checkpoint(from_large, data_dir or cache / case.name / "checkpoints")
        console.print(f"wrote {written}")
        if data_dir is None:
            return
    _check_data_dir(case, preset, data_dir)
    parameters = merge_parameters(case.name, case.parameters(), case.defaults())
    resolved = resolve_config(
        parameters, choose_preset(case, preset), {}, None, collect_overrides(set_file, sets), True, case=case.name
    )
    facts = case.prepare(dict(resolved.values), data_dir, cache, _progress_printer())
    console.print_json(json.dumps(facts, default=str))


def _print_dry_run(request: RunRequest, job: slurm.BatchJob | None) -> None:
    plan = dry_run_plan(request)
    resolved = request.resolved
    console.print(f"[bold]case[/bold] {request.case.name}  [bold]preset[/bold] {resolved.preset}  "
                  f"[bold]vendor[/bold] {request.vendor.name}  "
                  f"[bold]topology[/bold] {request.nnodes}x{request.nproc_per_node}  "
                  f"[bold]official[/bold] {resolved.official}")
    console.print(f"[bold]vendor config[/bold] {resolved.vendor_file or 'none (case defaults)'}")
    for line in request.case.describe_data(resolved.values, request.data_dir):
        console.print(f"[bold]data[/bold] {line}")
    table = Table(title="Resolved config")
    for column in ("key", "value", "from"):
        table.add_column(column)
    for key in sorted(resolved.values):
        table.add_row(key, str(resolved.values[key]), resolved.sources.get(key, ""))
    console.print(table)
    console.print(f"[bold]precision[/bold] {plan['precision']}")
    if not plan["devices_detected"]:
        console.print(f"[yellow]no {request.vendor.name} devices detected here; showing the plan as it would run[/]")
    table = Table(title="Ranks on this node")
    for column in ("local rank", "device", "CPUs", "NUMA node", "source"):
        table.add_column(column)
    for binding in plan["launch"]["bindings"]:
        if binding:
            table.add_row(str(binding["local_rank"]), str(binding["device"]), binding["cpus"],
                          str(binding["numa_node"]), binding["source"])
    console.print(table)
    console.print(f"[bold]CPU binding[/bold] {plan['launch']['binding_method']}")
    if plan["launch"]["binding_note"]:
        console.print(f"[yellow]{escape(plan['launch']['binding_note'])}[/]", soft_wrap=True)
    console.print(f"[bold]launch ({plan['launch']['kind']})[/bold] {plan['launch']['command']}", soft_wrap=True)
    if job is not None:
        console.print(f"[bold]Slurm batch script[/bold] (without --dry-run, written to {job.script_path} for "
                      "`sbatch`; each node's task then runs the launch above):", soft_wrap=True)
        console.print(job.script(), markup=False, highlight=False, soft_wrap=True, end="")


@cli.command("run")
@click.argument("case_name", metavar="CASE")
@click.option("--vendor", "vendor_name", required=True, help="Vendor plugin name (see `benchbase list`).")
@click.option("--config", "topology", help="NxM: N nodes x M processes per node [default: 1x1; on --resume, the run's].")
@click.option("--preset", help="Case preset (default: the case's default, e.g. official).")
@click.option("--variant", help="Named variant of the vendor's tuned config (e.g. bs128 -> BI-V100x1x8-bs128.yaml).")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Folder holding the case's data files.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Where prepared data is cached.")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1, 100), help="Run K times (Stability).")
@_set_option
@click.option("--unofficial", is_flag=True, help="Allow changing immutable keys; the result is marked unofficial.")
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True, help="Runs folder.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config, binding and launch plan; start nothing.")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), help="Continue an interrupted run.")
@click.option("--timeout", type=float, callback=lambda _ctx, _param, value: _check_timeout(value),
              help="Stop the run after this many seconds (status timeout).")
@click.option("--node-rank", type=click.IntRange(0, MAX_TOPOLOGY - 1), default=0, show_default=True,
              help="This node's rank (multi-node).")
@click.option("--master-addr", callback=lambda _ctx, _param, value: _check_address(value),
              help="Address of node 0 (multi-node).")
@click.option("--master-port", type=click.IntRange(1, 65535),
              help="Rendezvous port on node 0 (multi-node; default 29500).")
@click.option("--launcher", type=click.Choice(["auto", "slurm"]), default="auto", show_default=True,
              help="slurm: write a batch script for `sbatch` (--dry-run prints it); inside its srun step, each "
                   "node's task takes its node rank and master from Slurm.")
@click.option("--sysfs-root", type=click.Path(path_type=Path), default=Path("/sys"), show_default=True,
              help="Where device topology is read (tests point this at a recorded tree).")
def run_command(
    case_name: str,
    vendor_name: str,
    topology: str | None,
    preset: str | None,
    variant: str | None,
    data_dir: Path | None,
    cache_dir: Path | None,
    repeat: int,
    sets: tuple[str, ...],
    set_file: Path | None,
    unofficial: bool,
    out: Path,
    dry_run: bool,
    resume_dir: Path | None,
    timeout: float | None,
    node_rank: int,
    master_addr: str | None,
    master_port: int | None,
    launcher: str,
    sysfs_root: Path,
) -> None:
    """Run a benchmark CASE on a vendor's devices and record it under --out."""
    if resume_dir is not None:
        _refuse_ignored_on_resume(resume_dir, sets, set_file, preset, variant, unofficial, repeat, timeout)
    registry = _registry()
    case = registry.case(case_name)
    vendor = registry.vendor(vendor_name)
    if topology is None:
        topology = str(RunDir.open(resume_dir).read_config().get("topology", "1x1")) if resume_dir else "1x1"
    nnodes, nproc = parse_topology(topology)
    if resume_dir is not None:
        resolved = _resolved_from_record(resume_dir, case, vendor)
        preset = resolved.preset
    else:
        overrides = collect_overrides(set_file, sets, timeout)
        # The run's own clock starts in execute(); the vendor's device_model() asked for here is held to it too.
        with bounded.deadline_within(timeout):
            resolved = resolve_for(case, vendor, preset, nnodes, nproc, overrides, unofficial, variant)
    if not dry_run:
        _check_data_dir(case, preset, data_dir)
    job = None
    if launcher == "slurm" and (dry_run or not slurm.in_step()):
        # Not yet a node of the job: describe the whole job as a batch script, which the user submits.
        job = slurm.batch_job(
            case.name, vendor.name, nnodes, nproc,
            gpus_per_node=None if vendor.ranks_share_devices else nproc,
            run_argv=sys.argv[1:], master_port=master_port, out_root=out,
        )
        if not dry_run:
            _announce_batch_script(job.write())
            return
        node_rank, master_addr = 0, master_addr or "<NodeAddr of the job's first node>"
    elif launcher == "slurm":
        node_rank, master_addr = slurm.step_placement(nnodes, master_addr)
    request = RunRequest(
        case=case,
        vendor=vendor,
        resolved=resolved,
        nnodes=nnodes,
        nproc_per_node=nproc,
        out_root=out,
        cache_dir=cache_dir or default_cache_dir(),
        data_dir=data_dir,
        node_rank=node_rank,
        master_addr=master_addr,
        master_port=master_port,
        sysfs_root=sysfs_root,
        resume_dir=resume_dir,
        timeout_s=timeout,
    )
    if dry_run:
        _print_dry_run(request, job)
        return
    group = uuid.uuid4().hex[:12] if repeat > 1 else None
    prepared: dict[str, Any] = {}

    def prepare() -> dict[str, Any]:
        if not prepared:
            prepared.update(case.prepare(dict(resolved.values), data_dir, request.cache_dir, _progress_printer()))
        return prepared

    outcomes = []
    for index in range(repeat):
        request.repeat_group, request.repeat_index = group, index
        if resume_dir is None:
            request.resolved = repeat_config(resolved, index)
        outcome = execute(request, console, prepare)
        outcomes.append(outcome)
        console.print(
            f"[bold]{outcome.status}[/bold]: {outcome.summary.get('reason')} -> {outcome.run_dir}", soft_wrap=True
        )
        if outcome.status == "interrupted":
            break
    _print_standard_table([o.run_dir for o in outcomes])
    sys.exit(max(o.exit_code for o in outcomes))


def _announce_batch_script(path: Path) -> None:
    """Say where the script is and how to start it: outside an allocation with sbatch, inside one (salloc) with bash,
    whose srun line then starts the step in the allocation already held."""
    quoted = shlex.quote(str(path))
    how = f"`sbatch {quoted}`"
    if "SLURM_JOB_ID" in os.environ:
        how += f", or run it in this allocation (job {os.environ['SLURM_JOB_ID']}) with `bash {quoted}`"
    console.print(f"wrote {path}", soft_wrap=True, markup=False, highlight=False)
    console.print(f"submit it with {how}; the job log is {path.stem}-<job id>.out beside it", soft_wrap=True,
                  markup=False, highlight=False)


def _resolved_from_record(run_dir: Path, case: Case, vendor: Vendor) -> ResolvedConfig:
    record = RunDir.open(run_dir).read_config()
    if record.get("case") != case.name or record.get("vendor") != vendor.name:
        raise BenchbaseError(
            f"{run_dir} is a run of {record.get('case')} on {record.get('vendor')}",
            f"resume it with `benchbase run {record.get('case')} --vendor {record.get('vendor')} --resume {run_dir}`",
        )
    return ResolvedConfig.from_record(record)


#: ``run`` options a ``--resume`` cannot honour: the run continues with the config and in the folder it has.
_NOT_ON_RESUME = ("--set", "--set-file", "--preset", "--variant", "--unofficial", "--out", "--repeat")


def _refuse_ignored_on_resume(
    resume_dir: Path,
    sets: tuple[str, ...],
    set_file: Path | None,
    preset: str | None,
    variant: str | None,
    unofficial: bool,
    repeat: int,
    timeout: float | None,
) -> None:
    """A resumed run keeps its recorded config (its ``config_hash`` proves it) and its folder, so options that would
    change them are refused rather than silently dropped. ``--timeout`` applies: it bounds the new attempt."""
    out_given = click.get_current_context().get_parameter_source("out") is not click.core.ParameterSource.DEFAULT
    given = [name for name, present in zip(_NOT_ON_RESUME, (
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


def _refuse_output_in_records(output: Path, read: list[Path]) -> None:
    """The report never writes into a run folder (it would replace or add to a record) nor into a folder of runs it
    reads (the next report would list the file as a broken record)."""
    folders = [output.resolve().parent, *output.resolve().parent.parents]
    markers = (*schema.RECORD_FILES, schema.LOCK_FILE)
    run = next((folder for folder in folders if any((folder / name).exists() for name in markers)), None)
    runs = next((Path(path) for path in read if Path(path).resolve() in folders), None)
    if run is not None or runs is not None:
        where = f"run folder {run}" if run is not None else f"runs folder {runs}"
        raise BenchbaseError(
            f"--output {output} is inside the {where}; the report never writes into run records",
            "write it outside the folders of runs, e.g. under reports/",
        )


def _print_standard_table(run_dirs: list[Path]) -> None:
    """The rows of this command's runs, aggregated against everything in their ``--out`` folder: a 1x2 run's
    Scalability needs the comparable 1x1 runs recorded there before it, which this command did not make."""
    from benchbase.report import build_report, load_runs, render_rich

    result = load_runs(dict.fromkeys(run_dir.parent for run_dir in run_dirs))
    own = {run_dir.name for run_dir in run_dirs}
    console.print(render_rich(build_report(result, reference=False, detail=False, only_runs=own)))


@cli.command("report")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json", "csv", "html"]), default="table",
              show_default=True, help="Output format.")
@click.option("--output", type=click.Path(path_type=Path), help="Write to this file instead of the terminal.")
@click.option("--detail", is_flag=True, help="Add FPS/E2E, p_whole/p_train/p_core, MFU, energy, time to target.")
@click.option("--reference", is_flag=True, help="Show published reference results beside ours.")
@click.option("--compare", nargs=2, type=click.Path(path_type=Path), help="Two runs side by side with ratios.")
def report_command(
    paths: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    detail: bool,
    reference: bool,
    compare: tuple[Path, Path] | None,
) -> None:
    """Print the standard table for run directories (default: reports/runs)."""
    from benchbase import report

    read = [*paths, *(compare or ())] or [DEFAULT_OUT]
    if output is not None:
        _refuse_output_in_records(output, read)
    # A record whose supervisor died says "running" forever; whoever reads it next records what happened.
    for run_dir, reason in run_lock.settle_orphans(read):
        err_console.print(f"{run_dir.name}: recorded as failed: {reason}", highlight=False, markup=False,
                          soft_wrap=True)
    if compare:
        text = report.compare_runs(compare[0], compare[1], fmt, context=list(paths) or [DEFAULT_OUT])
    else:
        result = report.load_runs(list(paths) or [DEFAULT_OUT])
        built = report.build_report(result, reference=reference, detail=detail)
        if fmt == "table" and output is None:
            console.print(report.render_rich(built))
            return
        text = report.render(built, fmt)
    if output is None:
        click.echo(text)
    else:
        from benchbase.report.output import write_output

        write_output(output, text)
        console.print(f"wrote {output}")


@cli.group("export")
def export_group() -> None:
    """Write a run record in another tool's format."""


@export_group.command("mlperf")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--output", type=click.Path(path_type=Path), help="Write the result log to this file (default: stdout).")
@click.option("--org", default="benchbase", show_default=True, help="submission_org: who ran it.")
@click.option("--division", type=click.Choice(["closed", "open"]),
              help="submission_division [default: closed for an official run, open otherwise].")
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
    import shlex

    from benchbase.export.mlperf import ExportOptions, checker_command, export_run, format_lines
    from benchbase.record.atomic import atomic_write_text

    options = ExportOptions(org=org, division=division, platform=platform, submission_status=submission_status)
    lines = export_run(run_dir, options)
    text = format_lines(lines)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        atomic_write_text(output, text)
    except OSError as exc:
        raise BenchbaseError(f"cannot write {output}: {exc.strerror}", "choose a writable --output path") from None
    case = str(RunDir.open(run_dir).read_summary()["case"])
    status = next(line["metadata"]["status"] for line in lines if line["key"] == "run_stop")
    console.print(f"wrote {output} ({len(lines)} lines, run_stop status {status})", highlight=False, soft_wrap=True)
    console.print(f"check it with: {shlex.join(checker_command(output, case))}", highlight=False, soft_wrap=True)


def main() -> None:
    """Entry point: one line for user errors, never a traceback for them."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("error: aborted")
        sys.exit(130)
    except click.ClickException as exc:
        # Click quotes the value it refused, which may be a megabyte long; BenchbaseError bounds its own.
        message = one_line(exc.format_message(), MAX_PROBLEM_CHARS)
        err_console.print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except BenchbaseError as exc:
        err_console.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except yaml.YAMLError as exc:
        err_console.print(f"error: {one_line(str(exc), MAX_PROBLEM_CHARS)}", highlight=False, markup=False,
                          soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("error: interrupted")
        sys.exit(130)
    except bounded.RunStopped as exc:
        err_console.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        # A disk that is full, read-only or not ours, met outside a run's record (a cache, an output file).
        err_console.print(f"error: {disk_space.describe(exc)}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
