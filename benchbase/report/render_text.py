"""The terminal form: a rich table with published rows dimmed and unofficial rows flagged, detail and skips below."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from benchbase.foreign import visible
from benchbase.report.columns import (
    CONFIGURATION, CRITERIA, EFFICIENCY_COLUMNS, NUMERIC_COLUMNS, PUBLISHED, STANDARD_COLUMNS, UNITS,
)
from benchbase.report.table import Report, published_cells


def render_rich(report: Report) -> RenderableType:
    """Everything the report says, as one rich renderable for ``console.print``."""
    table = Table(title="benchbase report", box=box.SIMPLE_HEAVY, header_style="bold", title_style="bold")
    for column in STANDARD_COLUMNS:
        header = f"{column}\n({UNITS[column]})" if column in UNITS else column
        # A row's identity and its criteria stay on one line, where a reader (and grep) finds them: the number cells
        # wrap first, and these fold only when nothing else is left to narrow.
        table.add_column(header, justify="right" if column in NUMERIC_COLUMNS else "left", overflow="fold",
                         no_wrap=column in (CONFIGURATION, CRITERIA), min_width=24 if column == CONFIGURATION else None)
    for row in report.rows:
        table.add_row(*(_cell(row.cells[column]) for column in STANDARD_COLUMNS),
                      style=None if row.key.official else "yellow")
    if report.references:
        table.add_section()
    for ref in report.references:
        cells = published_cells(ref)
        table.add_row(*(_cell(cells[column]) for column in STANDARD_COLUMNS), style="dim italic")
    if not report.rows and not report.references:
        table.caption = "no usable run records"
    parts: list[RenderableType] = [table]
    if report.rows:
        parts.append(_efficiency_table(report))
    parts.extend(_cell(line, style="dim") for line in report.legend)
    if report.detail:
        parts.extend(_detail_table(f"{number}. {row.cells[CONFIGURATION]}", row.detail)
                     for number, row in enumerate(report.rows, start=1))
        parts.extend(_detail_table(f"{PUBLISHED} {ref.label} ({ref.source})", ref.detail)
                     for ref in report.references if ref.detail)
    if report.skipped:
        skipped = Table(title=f"skipped {len(report.skipped)} record(s)", box=box.SIMPLE, show_header=False,
                        title_style="bold red")
        skipped.add_column("path", style="red", overflow="fold")
        skipped.add_column("reason", overflow="fold")
        for skip in report.skipped:
            skipped.add_row(_cell(skip.path), _cell(skip.reason))
        parts.append(skipped)
    return Group(*parts)


def render_text(report: Report, width: int = 240) -> str:
    """The rich form as plain text (``--format table --output FILE``), wide enough that no cell wraps."""
    console = Console(file=io.StringIO(), width=width, color_system=None, record=True, legacy_windows=False)
    console.print(render_rich(report))
    return console.export_text()


def _efficiency_table(report: Report) -> Table:
    """The second table: each row's efficiency figures, the row found again by its Configuration."""
    table = Table(title="Efficiency", box=box.SIMPLE_HEAVY, header_style="bold", title_style="bold")
    table.add_column(CONFIGURATION, overflow="fold", no_wrap=True, min_width=24)
    for column in EFFICIENCY_COLUMNS:
        table.add_column(column, justify="right", overflow="fold")
    for row in report.rows:
        table.add_row(_cell(row.cells[CONFIGURATION]), *(_cell(row.efficiency[column]) for column in EFFICIENCY_COLUMNS),
                      style=None if row.key.official else "yellow")
    return table


def _detail_table(title: str, items: tuple[tuple[str, str], ...]) -> Group:
    table = Table(box=box.SIMPLE, show_header=False)
    table.add_column("detail", style="cyan", no_wrap=True)
    table.add_column("value", overflow="fold")
    for label, text in items:
        table.add_row(_cell(label), _cell(text))
    return Group(_cell(title, style="bold"), table)


def _cell(text: object, style: str | None = None) -> Text:
    """Cells are data, never rich markup (a ``[published]`` marker must print as written), and a record's text prints
    as the characters it holds: its control characters are spelled out, so no ESC sequence reaches the terminal."""
    shown = visible(text)
    return Text(shown, style=style if style is not None else "dim" if shown.startswith("n/a") else "")
