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
from benchbase.report.formats import FORMATS, render
from benchbase.report.loading import LoadResult, Skipped, load_runs
from benchbase.report.reference import load_references
from benchbase.report.render_compare import comparison_rich, render_comparison
from benchbase.report.render_text import render_rich
from benchbase.report.table import Report, build_report



def compare_runs(
    a: str | PathLike[str], b: str | PathLike[str], fmt: str, context: Sequence[str | PathLike[str]] = ()
) -> str:
    """``--compare A B`` as text: each side a run directory, a run id or prefix, a repeat group, or ``#N``.

    ``context`` (the report's RUN_DIR arguments) is where run ids, repeat groups and ``#N`` are looked up, and
    where 1x1 baselines for the Scalability line come from.
    """
    result = load_runs(context) if context else LoadResult(runs=(), skipped=())
    return render_comparison(compare_selected(result, str(a), str(b)), fmt)


__all__ = [
    "FORMATS",
    "Comparison",
    "LoadResult",
    "Report",
    "Skipped",
    "build_report",
    "compare",
    "compare_runs",
    "compare_selected",
    "comparison_rich",
    "load_references",
    "load_runs",
    "render",
    "render_comparison",
    "render_rich",
    "select_runs",
]
