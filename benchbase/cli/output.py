"""Everything the command line prints with rich: the consoles, preparation's progress, ``--dry-run``, the line for
a job written for submission, the standard table after a run, and the tables of ``list`` and ``plugins``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from benchbase.contract import Submission
from benchbase.foreign import visible
from benchbase.run.console_guard import GuardedStream

if TYPE_CHECKING:
    from benchbase.registry.plugins import PluginInfo, Registry
    from benchbase.run.request import RunRequest

# Tables are wide; when output is a file or a pipe (CI logs), do not squeeze them into 80 columns.
# Both write through a GuardedStream: a closed pipe (`| head`) or a full disk under stdout never fails a command.
_stdout = GuardedStream(lambda: sys.stdout, "stdout")
console = (
    Console(file=_stdout) if sys.stdout.isatty() else Console(file=_stdout, width=int(os.environ.get("COLUMNS", "200")))
)
err_console = Console(file=GuardedStream(lambda: sys.stderr, "stderr"))


def text(value: object) -> Text:
    """A foreign string (a name, path, model, reason) as a table cell or line: never rich markup, and its control
    characters spelled out (:func:`benchbase.foreign.visible`), so it prints as the characters it holds."""
    return Text(visible(value))


def markup_safe(value: object) -> str:
    """A foreign string to place inside benchbase's own rich markup: escaped, with its controls spelled out."""
    return escape(visible(value))


def print_text(line: object, target: Console | None = None) -> None:
    """One foreign line (``wrote PATH``, an error) printed exactly as text, wrapped but never interpreted."""
    (target or console).print(text(line), highlight=False, soft_wrap=True)


def progress_printer() -> Callable[[str, int, int | None], None]:
    """Preparation's progress on stderr, about ten lines a stage, so a long tokenization shows it is alive."""
    last: dict[str, int] = {}

    def progress(stage: str, done: int, total: int | None) -> None:
        step = max((total or 0) // 10, 1)
        if done == total or done - last.get(stage, -step) >= step:
            last[stage] = done
            of = f"/{total}" if total else ""
            err_console.print(f"[dim]{markup_safe(stage)}: {done}{of}[/dim]", highlight=False)

    return progress


def print_dry_run_config(request: RunRequest) -> None:
    """``--dry-run``, first: the resolved config with where each value came from, shown before the checks of the
    run (:func:`print_dry_run`), so a refused request still shows what it resolved to."""
    resolved = request.resolved
    console.print(f"[bold]case[/bold] {markup_safe(request.case.name)}  [bold]preset[/bold] "
                  f"{markup_safe(resolved.preset)}  [bold]vendor[/bold] {markup_safe(request.vendor.name)}  "
                  f"[bold]topology[/bold] {request.nnodes}x{request.nproc_per_node}  "
                  f"[bold]official[/bold] {resolved.official}", highlight=False)
    console.print(f"[bold]vendor config[/bold] {markup_safe(resolved.vendor_file or 'none (case defaults)')}",
                  highlight=False, soft_wrap=True)
    for line in request.case.describe_data(resolved.values, request.data_dir):
        console.print(f"[bold]data[/bold] {markup_safe(line)}", highlight=False, soft_wrap=True)
    table = Table(title="Resolved config")
    for column in ("key", "value", "from"):
        table.add_column(column)
    for key in sorted(resolved.values):
        table.add_row(text(key), text(resolved.values[key]), text(resolved.sources.get(key, "")))
    console.print(table)


def print_dry_run(request: RunRequest, plan: dict[str, Any], submission: Submission | None) -> None:
    """``--dry-run`` of a request that passed every check of the run: the precision, the ranks' bindings, the launch
    command, and the job a launcher would write for submission."""
    console.print(f"[bold]precision[/bold] {markup_safe(plan['precision'])}", highlight=False)
    console.print(f"[bold]parallelism[/bold] {markup_safe(plan['parallelism'])}", highlight=False)
    memory = memory_line(plan["memory"], plan["memory_budget_gib"])
    console.print(f"[bold]memory per device[/bold] {markup_safe(memory)}", highlight=False, soft_wrap=True)
    if not plan["devices_detected"]:
        console.print(f"[yellow]no {markup_safe(request.vendor.name)} devices detected here (a run here would refuse: "
                      f"{markup_safe(plan['not_here'])}); showing the plan as it would run on a machine that has them, "
                      "which checks its own devices, data and disk[/]", highlight=False, soft_wrap=True)
    table = Table(title="Ranks on this node")
    for column in ("local rank", "device", "CPUs", "NUMA node", "source"):
        table.add_column(column)
    for binding in plan["launch"]["bindings"]:
        if binding:
            table.add_row(*(text(binding[field]) for field in ("local_rank", "device", "cpus", "numa_node", "source")))
    console.print(table)
    console.print(f"[bold]CPU binding[/bold] {markup_safe(plan['launch']['binding_method'])}", highlight=False)
    if plan["launch"]["binding_note"]:
        console.print(f"[yellow]{markup_safe(plan['launch']['binding_note'])}[/]", soft_wrap=True, highlight=False)
    console.print(f"[bold]launch ({markup_safe(plan['launch']['kind'])})[/bold] "
                  f"{markup_safe(plan['launch']['command'])}", soft_wrap=True, highlight=False)
    if submission is not None:
        console.print(f"[bold]{markup_safe(submission.title)}[/bold] ({markup_safe(submission.dry_run_note())}):",
                      soft_wrap=True, highlight=False)
        # The script itself: the launcher refuses control characters in what it writes, and spelling them out here
        # too keeps a plugin's launcher from steering the terminal.
        for line in submission.text().splitlines():
            console.print(text(line), highlight=False, soft_wrap=True)


def memory_line(memory: dict[str, Any] | None, budget_gib: float | None) -> str:
    """The estimate as ``--dry-run`` prints it: the total against the device's memory, then its parts."""
    if memory is None:
        return "unknown (the case does not describe its model's memory)"
    of = f" of {budget_gib:.1f} GiB" if budget_gib is not None else " (the device's memory unknown)"
    parts = ", ".join(f"{name.replace('_', ' ')} {gib:.2f}" for name, gib in memory["parts_gib"].items())
    shared = f" x {memory['ranks_per_device']} ranks" if memory["ranks_per_device"] > 1 else ""
    return f"{memory['per_device_gib']:.2f} GiB estimated{of} ({memory['parallelism']}{shared}; GiB per rank: {parts})"


def announce_submission(submission: Submission, path: Path) -> None:
    """Say where the job's file is and how to submit it."""
    print_text(f"wrote {path}")
    print_text(submission.how_to_submit(path))


def print_standard_table(run_dirs: list[Path]) -> None:
    """The rows of this command's runs, aggregated against everything in their ``--out`` folder: a 1x2 run's
    Scalability needs the comparable 1x1 runs recorded there before it, which this command did not make."""
    from benchbase.report import build_report, load_runs, render_rich

    result = load_runs(dict.fromkeys(run_dir.parent for run_dir in run_dirs))
    own = {run_dir.name for run_dir in run_dirs}
    console.print(render_rich(build_report(result, reference=False, detail=False, only_runs=own)))


def print_catalogue(registry: Registry) -> None:
    """``benchbase list``: the installed cases with their presets, and the vendors."""
    table = Table(title="Cases")
    for column in ("case", "presets", "metric", "description"):
        table.add_column(column)
    for name, case in sorted(registry.cases.items()):
        presets = ", ".join(f"{p}{' (default)' if p == case.default_preset else ''}" for p in case.presets())
        table.add_row(text(name), text(presets), text(case.metric_name), text(case.description))
    console.print(table)
    table = Table(title="Vendors")
    for column in ("vendor", "default device", "backend", "description"):
        table.add_column(column)
    for name, vendor in sorted(registry.vendors.items()):
        table.add_row(*(text(cell) for cell in (name, vendor.default_device_model, vendor.distributed_backend,
                                               vendor.description)))
    console.print(table)


def print_plugins(registry: Registry) -> None:
    """``benchbase plugins``: every plugin with what it provides and its status, who provides each case, vendor and
    launcher, and every conflict."""
    table = Table(title="Plugins (entry-point group 'benchbase')")
    for column in ("plugin", "distribution", "version", "provides", "hooks", "status"):
        table.add_column(column)
    for info in registry.plugins:
        provides = ", ".join([f"case:{c}" for c in info.cases] + [f"vendor:{v}" for v in info.vendors]
                             + [f"launcher:{name}" for name in info.launchers])
        table.add_row(*(text(cell) for cell in (info.name, info.distribution, info.version, provides,
                                               ", ".join(info.hooks))), plugin_status(info))
    console.print(table)
    table = Table(title="Cases, vendors and launchers, by the distribution that provides them")
    for column in ("kind", "name", "plugin", "distribution", "version"):
        table.add_column(column)
    for (kind, name), info in sorted(registry.origins.items()):
        table.add_row(*(text(cell) for cell in (kind, name, info.name, info.distribution, info.version)))
    console.print(table)
    for conflict in registry.conflicts:
        console.print(f"[red]conflict:[/red] {markup_safe(conflict)}", highlight=False, soft_wrap=True)


def plugin_status(info: PluginInfo) -> str:
    """``ok``, ``conflict`` or the plugin's error, for the status column of ``benchbase plugins``."""
    if info.error:
        return f"[red]error: {markup_safe(info.error)}[/red]"
    if info.conflicts:
        return "[red]conflict (see below)[/red]"
    return "[green]ok[/green]"
