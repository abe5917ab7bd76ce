"""The report: standard table, aggregation of repeats and scale points, published references, renderers.

Entry points for the CLI (``benchbase report``)::

    result = load_runs([Path("reports/runs")])          # LoadResult(runs, skipped)
    report = build_report(result, reference=True, detail=False)
    print(render(report, "md"))                          # table | md | json | csv | html
    console.print(render_rich(report))                   # the terminal form
    print(compare_runs("reports/runs/A", "reports/runs/B", "md"))   # --compare A B

Only ``summary.json`` is read for the table; ``events.jsonl`` and ``telemetry.csv`` only for HTML plots.
"""

from collections.abc import Sequence
from os import PathLike

from benchbase.report.compare import Comparison, compare, compare_selected, select_runs
from benchbase.report.formats import FORMATS, render, render_chunks
from benchbase.report.gate import Threshold, Verdict, judge, parse_threshold
from benchbase.report.loading import LoadResult, Skipped, load_runs
from benchbase.report.reference import load_references
from benchbase.report.render_compare import comparison_rich, render_comparison
from benchbase.report.render_text import render_rich
from benchbase.report.run import Run
from benchbase.report.table import Report, build_report



def compare_runs(
    a: str | PathLike[str], b: str | PathLike[str], fmt: str, context: Sequence[str | PathLike[str]] = ()
) -> str:
    """``--compare A B`` as text: each side a run directory, a run id or prefix, a repeat group, or ``#N``.

    ``context`` (the report's RUN_DIR arguments) is where run ids, repeat groups and ``#N`` are looked up, and
    where 1x1 baselines for the Scalability line come from.
    """
    return compare_sides(a, b, fmt, context)[2]


def compare_sides(
    a: str | PathLike[str], b: str | PathLike[str], fmt: str, context: Sequence[str | PathLike[str]] = ()
) -> tuple[tuple[Run, ...], tuple[Run, ...], str]:
    """:func:`compare_runs` with the runs each side named, which the gate (:func:`judge`) tests."""
    result = load_runs(context) if context else LoadResult(runs=(), skipped=())
    side_a, side_b = select_runs(result, str(a)), select_runs(result, str(b))
    return side_a, side_b, render_comparison(compare(side_a, side_b, context=result.runs), fmt)


__all__ = [
    "FORMATS",
    "Comparison",
    "Run",
    "Threshold",
    "Verdict",
    "LoadResult",
    "Report",
    "Skipped",
    "build_report",
    "compare",
    "compare_runs",
    "compare_selected",
    "compare_sides",
    "comparison_rich",
    "judge",
    "load_references",
    "load_runs",
    "parse_threshold",
    "render",
    "render_chunks",
    "render_comparison",
    "render_rich",
    "select_runs",
]
