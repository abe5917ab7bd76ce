"""``--format`` names and the renderer behind each."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from benchbase.errors import BenchbaseError
from benchbase.report.render_csv import render_csv
from benchbase.report.render_html import DEFAULT_PLOTS, html_chunks, render_html
from benchbase.report.render_json import render_json
from benchbase.report.render_markdown import render_markdown
from benchbase.report.render_text import render_text
from benchbase.report.table import Report

RENDERERS: dict[str, Callable[[Report], str]] = {
    "table": render_text,
    "md": render_markdown,
    "json": render_json,
    "csv": render_csv,
    "html": render_html,
}
FORMATS: tuple[str, ...] = tuple(RENDERERS)


def render(report: Report, fmt: str) -> str:
    """The report as text in format ``fmt`` (one of :data:`FORMATS`)."""
    return _renderer(fmt)(report)


def render_chunks(report: Report, fmt: str, plots: int | None = DEFAULT_PLOTS) -> Iterator[str]:
    """:func:`render`'s text in pieces whose concatenation is that text, for a writer that need not hold it whole
    (the HTML page a run at a time); ``plots``: how many runs the HTML page plots, the most recent (``None``: all)."""
    if fmt == "html":
        yield from html_chunks(report, plots)
    else:
        yield _renderer(fmt)(report)


def _renderer(fmt: str) -> Callable[[Report], str]:
    try:
        return RENDERERS[fmt]
    except KeyError:
        raise BenchbaseError(f"unknown report format {fmt!r}", f"use one of {', '.join(FORMATS)}") from None
