"""``benchbase report``: the standard table (or another format) for recorded runs."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator
from pathlib import Path

import click

from benchbase.cli.output import console, err_console, print_text


@click.command("report")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json", "csv", "html"]), default="table",
              show_default=True, help="Output format.")
@click.option("--output", type=click.Path(path_type=Path), help="Write to this file instead of the terminal.")
@click.option("--detail", is_flag=True, help="Add FPS/E2E, p_whole/p_train/p_core, MFU, energy, time to target.")
@click.option("--reference", is_flag=True, help="Show published reference results beside ours.")
@click.option("--compare", nargs=2, type=click.Path(path_type=Path), help="Two runs side by side with ratios.")
@click.option("--fail-if", "fail_if", multiple=True, metavar="FIGURE:CHANGE",
              help="With --compare: exit 1 when B's FIGURE is worse than A's beyond CHANGE (p_train:-5%, "
                   "time_to_target_s:+10%) and the difference is significant over the repeats. Repeatable.")
@click.option("--plots", "plots", metavar="N|all",
              help="HTML: plot the N most recently started runs (default 1000), or all; the others are listed "
                   "without plots.")
@click.option("--verify", "verify", is_flag=True,
              help="Check each run's record first (benchbase verify); mark rows whose records do not verify.")
def report_command(
    paths: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    detail: bool,
    reference: bool,
    compare: tuple[Path, Path] | None,
    fail_if: tuple[str, ...],
    plots: str | None,
    verify: bool,
) -> None:
    """Print the standard table for run directories (default: reports/runs)."""
    # Imported here, as in every verb: the command line imports each verb's module to build its group, and a
    # verb's layers (verify's figures, the run's supervisor) are only worth importing when that verb runs.
    from benchbase import report
    from benchbase.report.output import refuse_output_in_records
    from benchbase.run.lock import settle_orphans
    from benchbase.run.request import DEFAULT_OUT

    if fail_if and not compare:
        from benchbase.errors import BenchbaseError

        raise BenchbaseError("--fail-if judges a comparison, and no --compare was given",
                             "add --compare A B (A the baseline, B the candidate)")
    thresholds = [report.parse_threshold(text) for text in fail_if]
    plotted = _plot_budget(plots, fmt, compare)
    read = [*paths, *(compare or ())] or [DEFAULT_OUT]
    if output is not None:
        refuse_output_in_records(output, read)
    # A record whose supervisor died says "running" forever; whoever reads it next records what happened.
    for run_dir, reason in settle_orphans(read):
        print_text(f"{run_dir.name}: recorded as failed: {reason}", err_console)
    verdicts: list[report.Verdict] = []
    if compare:
        # The context is where run ids, repeat groups and #N are looked up: the RUN_DIR arguments, else the default
        # runs folder where there is one; two run folders (or folders of runs) need none.
        context = list(paths) or ([DEFAULT_OUT] if DEFAULT_OUT.exists() else [])
        side_a, side_b, text = report.compare_sides(compare[0], compare[1], fmt, context=context)
        verdicts = [report.judge(threshold, side_a, side_b) for threshold in thresholds]
        if verdicts and fmt == "json":
            from benchbase.report.render_gate import with_gate

            text = with_gate(text, verdicts)
    else:
        with _cyclic_collector_paused():
            result = report.load_runs(list(paths) or [DEFAULT_OUT])
            findings = None
            if verify:
                from benchbase.registry.plugins import load_checked_registry
                from benchbase.report.verification import first_findings

                findings = first_findings(result.runs, load_checked_registry().case)
            built = report.build_report(result, reference=reference, detail=detail, findings=findings)
            if fmt == "table" and output is None:
                console.print(report.render_rich(built))
                return
            _emit(report.render_chunks(built, fmt, plotted), output)
            return
    _emit([text], output)
    if verdicts:
        from benchbase.report.render_gate import exit_code, verdict_line

        for verdict in verdicts:
            print_text(verdict_line(verdict), err_console)
        raise SystemExit(exit_code(verdicts))


def _plot_budget(plots: str | None, fmt: str, compare: object) -> int | None:
    """``--plots`` as :func:`benchbase.report.render_chunks` takes it: a count, or ``None`` for all."""
    from benchbase.errors import BenchbaseError
    from benchbase.report.render_html import DEFAULT_PLOTS

    if plots is None:
        return DEFAULT_PLOTS
    if fmt != "html" or compare:
        raise BenchbaseError("--plots chooses the runs the HTML report plots, and this report draws no plots",
                             "drop --plots, or use --format html without --compare")
    text = plots.strip()
    if text.lower() == "all":
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        shown = plots if len(plots) <= 20 else plots[:17] + "..."
        raise BenchbaseError(f"--plots {shown!r} is neither a number of runs nor 'all'",
                             "use --plots N (0 to 999999999) or --plots all")
    return int(text)


def _emit(pieces: Iterable[str], output: Path | None) -> None:
    """The report's text, a piece at a time (an HTML page of thousands of runs is never held whole), to the terminal
    or to ``--output``."""
    from benchbase.report.output import write_output

    if output is None:
        for piece in pieces:
            click.echo(piece, nl=False)
        click.echo()
    else:
        write_output(output, pieces)
        print_text(f"wrote {output}")


@contextlib.contextmanager
def _cyclic_collector_paused() -> Iterator[None]:
    """A report keeps every run, row and cell it makes until it prints them, so the cyclic garbage collector's
    passes find nothing to free, yet they walk all of them again and again: about a ninth of the CPU time of a
    report over 10,000 runs (md 4.67 against 4.14 CPU s, html 21.1 against 18.6; 2026-12-07, load average 6.3).
    Reference counting still frees whatever is dropped."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
