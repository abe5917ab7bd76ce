"""Markdown: the seed table exactly (header, ``|---|`` separator, one line per row), then legend, detail, skipped.

Pasted into a README it reads like the vendors' published tables, with our rows and any published rows together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from benchbase.report.columns import CONFIGURATION, PUBLISHED, STANDARD_COLUMNS
from benchbase.report.table import Report, published_cells


def table_lines(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A pipe table: header line, ``|---|`` separator, rows."""
    lines = [_line(header), "|" + "---|" * len(header)]
    lines.extend(_line(row) for row in rows)
    return lines


def render_markdown(report: Report) -> str:
    rows = [[row.cells[column] for column in STANDARD_COLUMNS] for row in report.rows]
    rows += [[published_cells(ref)[column] for column in STANDARD_COLUMNS] for ref in report.references]
    lines = table_lines(STANDARD_COLUMNS, rows)
    if report.legend:
        lines.append("")
        lines.extend(f"- {_escape(line)}" for line in report.legend)
    if report.detail:
        for number, row in enumerate(report.rows, start=1):
            lines += ["", f"### {number}. {_escape(row.cells[CONFIGURATION])}", ""]
            lines += table_lines(("Detail", "Value"), row.detail)
        for ref in report.references:
            if ref.detail:
                lines += ["", f"### {PUBLISHED} {_escape(ref.label)} ({_escape(ref.source)})", ""]
                lines += table_lines(("Detail", "Value"), ref.detail)
    if report.skipped:
        lines += ["", f"Skipped {len(report.skipped)} record(s):", ""]
        lines.extend(f"- {_code(str(skip.path))}: {_escape(skip.reason)}" for skip in report.skipped)
    return "\n".join(lines) + "\n"


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_escape(cell) for cell in cells) + " |"


#: HTML-significant characters as entities: Markdown passes raw HTML through, so a device model, SDK or reason
#: holding ``<script>`` would reach every page the table is pasted into; the entities render as the characters.
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _escape(text: str) -> str:
    """Keep a cell one cell and its text text: line breaks and pipes would end or split the row, and ``<``/``>``/``&``
    would be HTML."""
    return " ".join(str(text).split()).translate(_ENTITIES).replace("|", "\\|")


def _code(text: str) -> str:
    """``text`` as an inline code span (a path): fenced by one more backtick than its longest run of backticks, as
    CommonMark allows, so a folder named with backticks cannot close the span early and carry HTML out of it."""
    line = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", line)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {line} {fence}" if longest else f"{fence}{line}{fence}"
