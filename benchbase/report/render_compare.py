"""Layouts of a :class:`~benchbase.report.compare.Comparison` (terminal, Markdown, JSON, CSV)."""

from __future__ import annotations

import csv
import io
import json

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from benchbase.errors import BenchbaseError
from benchbase.foreign import visible
from benchbase.report import formatting
from benchbase.report.compare import Comparison
from benchbase.report.render_csv import inert_row
from benchbase.report.render_markdown import markdown_text, table_lines

COMPARISON_SCHEMA = "benchbase.comparison/1"
_HEADER = ("Metric", "A", "B", "B/A", "Better")


def comparison_rich(comparison: Comparison) -> RenderableType:
    # Labels and run ids come from the records: text, never markup, with their control characters spelled out.
    table = Table(
        title=Text(visible(f"A: {comparison.a_label}   vs   B: {comparison.b_label}")),
        caption=Text(visible(f"A = {', '.join(comparison.a_run_ids)}; B = {', '.join(comparison.b_run_ids)}")),
        box=box.SIMPLE_HEAVY,
    )
    for name in _HEADER:
        table.add_column(name, justify="right" if name == "B/A" else "left", overflow="fold")
    for line in comparison.lines:
        table.add_row(Text(visible(line.label), style="cyan"), Text(visible(line.a)), Text(visible(line.b)),
                      Text(_ratio(line.ratio)), Text(visible(line.better)))
    if not comparison.legend:
        return table
    return Group(table, *(Text(line, style="dim") for line in comparison.legend))


def render_comparison(comparison: Comparison, fmt: str) -> str:
    """``fmt`` is ``table``, ``md``, ``json`` or ``csv``."""
    if fmt == "table":
        console = Console(file=io.StringIO(), width=240, color_system=None, record=True)
        console.print(comparison_rich(comparison))
        return console.export_text()
    if fmt == "md":
        lines = [markdown_text(f"A: {comparison.a_label} ({', '.join(comparison.a_run_ids)})") + "  ",
                 markdown_text(f"B: {comparison.b_label} ({', '.join(comparison.b_run_ids)})"), ""]
        lines += table_lines(_HEADER, [(l.label, l.a, l.b, _ratio(l.ratio), l.better) for l in comparison.lines])
        if comparison.legend:
            lines += ["", *(f"- {markdown_text(line)}" for line in comparison.legend)]
        return "\n".join(lines) + "\n"
    if fmt == "json":
        document = {
            "schema": COMPARISON_SCHEMA,
            "a": {"label": comparison.a_label, "run_ids": list(comparison.a_run_ids)},
            "b": {"label": comparison.b_label, "run_ids": list(comparison.b_run_ids)},
            "lines": [
                {"label": l.label, "a": l.a, "b": l.b, "ratio_b_over_a": l.ratio, "better": l.better or None,
                 "a_marks": list(l.a_marks), "b_marks": list(l.b_marks)}
                for l in comparison.lines
            ],
            "legend": list(comparison.legend),
        }
        return json.dumps(document, indent=2, ensure_ascii=True) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("metric", "a", "b", "ratio_b_over_a", "better", "a_marks", "b_marks"))
        writer.writerows(inert_row((l.label, l.a, l.b, "" if l.ratio is None else repr(l.ratio), l.better,
                                    " ".join(l.a_marks), " ".join(l.b_marks)))
                         for l in comparison.lines)
        return out.getvalue()
    raise BenchbaseError(f"--compare cannot be written as {fmt!r}", "use --format table, md, json or csv")


def _ratio(value: float | None) -> str:
    return formatting.ratio(value) if value is not None else ""
