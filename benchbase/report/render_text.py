"""The terminal form: a rich table with published rows dimmed and unofficial rows flagged, detail and skips below."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from benchbase.foreign import visible
from benchbase.report.columns import (
    CONFIGURATION, CRITERIA, EFFICIENCY_COLUMNS, NUMERIC_COLUMNS, PUBLISHED, STANDARD_COLUMNS, UNITS,
)
from benchbase.report.table import Report, published_cells
from benchbase.report.text_table import TextColumn, TextTable, plain_table


def render_rich(report: Report) -> RenderableType:
    """Everything the report says, as one rich renderable for ``console.print``."""
    tables = [_standard(report)] + ([_efficiency(report)] if report.rows else [])
    return Group(*(table.rich() for table in tables), *_below_tables(report))


def render_text(report: Report, width: int = 240) -> str:
    """The rich form as plain text (``--format table --output FILE``), wide enough that no cell wraps.

    The standard and the efficiency table, one row per configuration, are laid out by
    :func:`~benchbase.report.text_table.plain_table` in the same characters rich prints (rich took about a
    millisecond a row); what it does not lay out, and everything else, is printed by rich."""
    console = Console(file=io.StringIO(), width=width, color_system=None, record=True, legacy_windows=False)
    tables = [_standard(report)] + ([_efficiency(report)] if report.rows else [])
    text = []
    for table in tables:
        plain = plain_table(table.table, width) if not table.caption else None
        if plain is None:
            console.print(table.rich())
            plain = console.export_text()
        text.append(plain)
    console.print(Group(*_below_tables(report)))
    text.append(console.export_text())
    return "".join(text)


@dataclass
class _Styled:
    """A table as strings (:class:`TextTable`), with what only its rich form shows: each row's style, a caption."""

    table: TextTable
    row_styles: list[str | None] = field(default_factory=list)
    caption: str | None = None

    def add(self, cells: list[str], style: str | None) -> None:
        """A row of shown (:func:`visible`) cells, and its rich style."""
        self.table.rows.append(cells)
        self.row_styles.append(style)

    def rich(self) -> Table:
        """The rich table: the terminal's form, and the plain text's where :func:`plain_table` declines."""
        table = Table(title=self.table.title, box=box.SIMPLE_HEAVY, header_style="bold", title_style="bold",
                      caption=self.caption)
        for column in self.table.columns:
            table.add_column(column.header, justify="right" if column.right else "left", overflow="fold",
                             no_wrap=column.no_wrap, min_width=column.min_width)
        for index, (cells, style) in enumerate(zip(self.table.rows, self.row_styles)):
            table.add_row(*map(_cell, cells), style=style, end_section=index in self.table.section_ends)
        return table


def _below_tables(report: Report) -> list[RenderableType]:
    """What the report prints under its two tables, in order: the legend, each row's detail (``--detail``), the
    skipped records."""
    parts: list[RenderableType] = [_cell(line, style="dim") for line in report.legend]
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
    return parts


def _standard(report: Report) -> _Styled:
    """The standard table: a row per configuration (unofficial rows yellow), then the published references (dim)."""
    # A row's identity and its criteria stay on one line, where a reader (and grep) finds them: the number cells
    # wrap first, and these fold only when nothing else is left to narrow.
    columns = [TextColumn(f"{column}\n({UNITS[column]})" if column in UNITS else column,
                          right=column in NUMERIC_COLUMNS, no_wrap=column in (CONFIGURATION, CRITERIA),
                          min_width=24 if column == CONFIGURATION else None)
               for column in STANDARD_COLUMNS]
    table = _Styled(TextTable("benchbase report", columns))
    for row in report.rows:
        table.add([visible(row.cells[column]) for column in STANDARD_COLUMNS],
                  None if row.key.official else "yellow")
    if report.references and report.rows:
        table.table.section_ends.add(len(report.rows) - 1)
    for ref in report.references:
        cells = published_cells(ref)
        table.add([visible(cells[column]) for column in STANDARD_COLUMNS], "dim italic")
    if not report.rows and not report.references:
        table.caption = "no usable run records"
    return table


def _efficiency(report: Report) -> _Styled:
    """The second table: each row's efficiency figures, the row found again by its Configuration."""
    columns = [TextColumn(CONFIGURATION, no_wrap=True, min_width=24),
               *(TextColumn(column, right=True) for column in EFFICIENCY_COLUMNS)]
    table = _Styled(TextTable("Efficiency", columns))
    for row in report.rows:
        cells = [row.cells[CONFIGURATION], *(row.efficiency[column] for column in EFFICIENCY_COLUMNS)]
        table.add([visible(cell) for cell in cells], None if row.key.official else "yellow")
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
