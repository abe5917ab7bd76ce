"""Markdown: the seed table exactly (header, ``|---|`` separator, one line per row), then legend, detail, skipped.

Pasted into a README it reads like the vendors' published tables, with our rows and any published rows together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from benchbase.foreign import visible
from benchbase.report.columns import CONFIGURATION, EFFICIENCY_COLUMNS, LEGEND, PUBLISHED, STANDARD_COLUMNS
from benchbase.report.table import Report, published_cells


def table_lines(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A pipe table: header line, ``|---|`` separator, rows; every cell is :func:`markdown_text` (after the report's
    own row marker, if it starts with one)."""
    lines = [_line(header), "|" + "---|" * len(header)]
    lines.extend(_line(row) for row in rows)
    return lines


def render_markdown(report: Report) -> str:
    rows = [[row.cells[column] for column in STANDARD_COLUMNS] for row in report.rows]
    rows += [[published_cells(ref)[column] for column in STANDARD_COLUMNS] for ref in report.references]
    lines = table_lines(STANDARD_COLUMNS, rows)
    if report.rows:
        # The efficiency table under the seed's, never inside it: the standard table stays as vendors publish it.
        lines += ["", *table_lines((CONFIGURATION, *EFFICIENCY_COLUMNS), (
            [row.cells[CONFIGURATION], *(row.efficiency[column] for column in EFFICIENCY_COLUMNS)]
            for row in report.rows))]
    if report.legend:
        lines.append("")
        lines.extend(f"- {_marked(line)}" for line in report.legend)
    if report.detail:
        for number, row in enumerate(report.rows, start=1):
            lines += ["", f"### {number}. {_marked(row.cells[CONFIGURATION])}", ""]
            lines += table_lines(("Detail", "Value"), row.detail)
        for ref in report.references:
            if ref.detail:
                lines += ["", f"### {PUBLISHED} {markdown_text(ref.label)} ({markdown_text(ref.source)})", ""]
                lines += table_lines(("Detail", "Value"), ref.detail)
    if report.skipped:
        lines += ["", f"Skipped {len(report.skipped)} record(s):", ""]
        lines.extend(f"- {_code(str(skip.path))}: {markdown_text(skip.reason)}" for skip in report.skipped)
    return "\n".join(lines) + "\n"


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_marked(cell) for cell in cells) + " |"


def _marked(text: str) -> str:
    """A cell or legend line whose leading ``[published]``/``[unofficial]`` marker is the report's own, kept as the
    seed table writes it (brackets without a link target are text); the rest is foreign and escaped."""
    for marker in LEGEND:
        rest = text[len(marker):]
        if text.startswith(marker) and rest[:1] in (" ", ":"):
            separator = ": " if rest[0] == ":" else " "
            return f"{marker}{separator}{markdown_text(rest[1:])}"
    return markdown_text(text)


#: HTML-significant characters as entities: Markdown passes raw HTML through, so a device model, SDK or reason
#: holding ``<script>`` would reach every page the table is pasted into; the entities render as the characters.
#: A backslash is escaped first (it would otherwise escape the pipe that ends the cell), a pipe would split the row,
#: and brackets are what every link, image and footnote starts with (``![x](https://...)`` would fetch an image from
#: whoever wrote the record); their backslash escapes render as the characters themselves.
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "|": "\\|", "[": "\\[",
                          "]": "\\]"})
#: What GitHub's Markdown turns into a link with no brackets at all: a URL's ``scheme://``, ``www.`` and an e-mail
#: address's ``@``; a backslash before its ``:``, ``.`` or ``@`` keeps it text.
_BARE_LINK = re.compile(r"(?i)(?=://)|(?<=\bwww)(?=\.)|(?=@)")


def markdown_text(text: object) -> str:
    """Foreign text as Markdown that renders as exactly its characters, on one line: a cell stays one cell (no line
    break or pipe ends it), and no HTML, link, image or autolink comes out of it."""
    line = " ".join(visible(text).split()).translate(_ESCAPES)
    return _BARE_LINK.sub(lambda _: "\\", line)


def _code(text: str) -> str:
    """``text`` as an inline code span (a path): fenced by one more backtick than its longest run of backticks, as
    CommonMark allows, so a folder named with backticks cannot close the span early and carry HTML out of it."""
    line = " ".join(visible(text).split())
    longest = max((len(run) for run in re.findall(r"`+", line)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {line} {fence}" if longest else f"{fence}{line}{fence}"
