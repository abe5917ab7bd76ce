"""The report: standard table, aggregation of repeats and scale points, published references, renderers.

Entry points for the CLI (``benchbase report``)::

    result = load_runs([Path("reports/runs")])          # LoadResult(runs, skipped)
    report = build_report(result, reference=True, detail=False)
    print(render(report, "md"))                          # table | md | json | csv | html
    console.print(render_rich(report))                   # the terminal form
    print(render_comparison(compare_selected(result, "A", "B"), "table"))

Only ``summary.json`` is read for the table; ``events.jsonl`` and ``telemetry.csv`` only for HTML plots.
"""

from benchbase.report.compare import Comparison, compare, compare_selected, select_runs
from benchbase.report.formats import FORMATS, render
from benchbase.report.loading import LoadResult, Skipped, load_runs
from benchbase.report.reference import load_references
from benchbase.report.render_compare import comparison_rich, render_comparison
from benchbase.report.render_text import render_rich
from benchbase.report.table import Report, build_report

__all__ = [
    "FORMATS",
    "Comparison",
    "LoadResult",
    "Report",
    "Skipped",
    "build_report",
    "compare",
    "compare_selected",
    "comparison_rich",
    "load_references",
    "load_runs",
    "render",
    "render_comparison",
    "render_rich",
    "select_runs",
]
