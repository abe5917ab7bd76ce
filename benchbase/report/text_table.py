"""A big report's tables as plain text in linear time: the same characters rich prints, without rich's per-cell
renderables.

``report --format table --output FILE`` writes the terminal table as plain text. Through rich, every cell of a
10,000-run report became a padded renderable that was measured, wrapped, split into segments and cropped, about a
millisecond a row and most of that report's time. The two big tables (the standard one and the efficiency one) are
simple enough to lay out directly: strings only, one box (``SIMPLE_HEAVY``: a heavy rule under the header, blank
edges), cells padded by one space each side, left- or right-justified, folded where too long. :func:`plain_table`
lays them out by the rules rich 15 follows for such a table (``rich/table.py``, ``rich/_wrap.py``,
``rich/text.py``: column widths from the longest line of each column, wide columns narrowed first, words wrapped and
over-long ones folded), written here for that case alone, and answers ``None`` for anything outside it (a caption, a
character whose width on a terminal is not one cell, a column too narrow to hold a character, a table wider than the
console), which the caller then gives to rich. ``tests/report/test_text_table.py`` holds it to rich's bytes on
random tables and on real reports.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

#: Characters one terminal cell wide, the only ones laid out here: printable ASCII, and the few others the report
#: itself writes (a footnote mark, an ellipsis, a dash).
_NARROW = frozenset(map(chr, range(0x20, 0x7F))) | frozenset("†‡…–—×±°µ")
#: A word as rich wraps it: leading space (the first word of a line only), the word, the space after it.
_WORD = re.compile(r"\s*\S+\s*")
_TRAILING_SPACE = re.compile(r"\s+$")
#: Padding of every cell: one space left, one right.
_PAD = 2
_RULE = "━"


@dataclass(frozen=True)
class TextColumn:
    """One column: its header (lines split at ``\\n``), right-justified or not, kept on one line or not."""

    header: str
    right: bool = False
    no_wrap: bool = False
    min_width: int | None = None


@dataclass
class TextTable:
    """A table as strings: what both its rich form and its plain form are made from."""

    title: str
    columns: Sequence[TextColumn]
    rows: list[Sequence[str]] = field(default_factory=list)
    #: Indexes of the rows after which a section ends (a blank line, unless it is the last row).
    section_ends: set[int] = field(default_factory=set)


def plain_table(table: TextTable, max_width: int) -> str | None:
    """The table as rich prints it to a ``max_width`` console without colour, each line ending in a newline; ``None``
    when the table is outside what is laid out here (the caller prints it with rich)."""
    columns = table.columns
    texts = [column.header for column in columns] + [table.title]
    if not columns or not all(_NARROW.issuperset(text.replace("\n", "")) for text in texts):
        return None
    longest = [max(map(len, column.header.split("\n"))) for column in columns]
    for row in table.rows:
        for index, text in enumerate(row):
            if not _NARROW.issuperset(text):
                return None
            if len(text) > longest[index]:
                longest[index] = len(text)
    widths = _column_widths(columns, longest, max_width - (len(columns) + 1))
    if widths is None:
        return None
    table_width = sum(widths) + len(columns) + 1
    title = table.title.rstrip()
    if len(title) > table_width or table_width > max_width:
        return None  # rich would wrap the title, or crop every line to the console
    blank = " " * table_width + "\n"
    lines = [_centred(title, table_width) + "\n", blank]
    lines.extend(_row([column.header for column in columns], columns, widths, header=True))
    lines.append(" " + _RULE.join(_RULE * width for width in widths) + " \n")
    last = len(table.rows) - 1
    for index, row in enumerate(table.rows):
        lines.extend(_row(row, columns, widths, header=False))
        if index in table.section_ends and index != last:
            lines.append(blank)
    lines.append(blank)
    return "".join(lines)


def _column_widths(columns: Sequence[TextColumn], longest: list[int], available: int) -> list[int] | None:
    """Each column's width, padding included: its longest line, narrowed (wrapping columns first, the widest first)
    while the table is wider than ``available``; ``None`` where a column would hold less than one character."""
    if available < len(columns) * (_PAD + 1):
        return None
    floors = [0 if column.min_width is None else column.min_width + _PAD for column in columns]
    widths = [max(min(size + _PAD, available), floor) or 1 for size, floor in zip(longest, floors)]
    if sum(widths) > available:
        widths = _narrowed(widths, [not column.no_wrap for column in columns], available)
        if sum(widths) > available:
            widths = _reduced(sum(widths) - available, [1] * len(widths), widths, widths)
        if min(widths) <= _PAD:
            return None
        widths = [max(min(size + _PAD, width), floor) for size, width, floor in zip(longest, widths, floors)]
    return widths if min(widths) > _PAD else None


def _narrowed(widths: list[int], wraps: list[bool], available: int) -> list[int]:
    """Take the excess from the widest wrapping columns, bringing them down to the next widest, until it fits or
    every wrapping column is as narrow as the rest allow."""
    excess = sum(widths) - available
    while any(wraps) and excess > 0:
        widest = max(width for width, wrap in zip(widths, wraps) if wrap)
        next_widest = max((width for width, wrap in zip(widths, wraps) if wrap and width != widest), default=0)
        shares = [1 if wrap and width == widest else 0 for width, wrap in zip(widths, wraps)]
        if widest == next_widest:
            break
        widths = _reduced(excess, shares, [min(excess, widest - next_widest)] * len(widths), widths)
        excess = sum(widths) - available
    return widths


def _reduced(total: int, shares: list[int], limits: list[int], widths: list[int]) -> list[int]:
    """``widths`` less ``total`` split in proportion to ``shares`` (rounded half to even, as Python rounds), no
    width losing more than its limit; what a column could not give passes to the ones after it."""
    shares = [share if limit else 0 for share, limit in zip(shares, limits)]
    left, remaining = sum(shares), total
    if not left:
        return list(widths)
    result = []
    for share, limit, width in zip(shares, limits, widths):
        if share and left > 0:
            taken = min(limit, round(share * remaining / left))
            result.append(width - taken)
            remaining -= taken
            left -= share
        else:
            result.append(width)
    return result


def _row(cells: Sequence[str], columns: Sequence[TextColumn], widths: list[int], header: bool) -> list[str]:
    """The lines of one row: each cell wrapped into its width, shorter cells topped up with blank lines (below the
    text in the body, above it in the header)."""
    wrapped = [_cell_lines(text, width - _PAD, column.right, column.no_wrap)
               for text, column, width in zip(cells, columns, widths)]
    height = max(map(len, wrapped))
    for index, lines in enumerate(wrapped):
        if len(lines) < height:
            filler = [" " * (widths[index] - _PAD)] * (height - len(lines))
            wrapped[index] = filler + lines if header else lines + filler
    return [" " + " ".join(f" {lines[line]} " for lines in wrapped) + " \n" for line in range(height)]


def _cell_lines(text: str, width: int, right: bool, no_wrap: bool) -> list[str]:
    """A cell's text in lines of exactly ``width`` characters."""
    out = []
    for line in text.split("\n"):
        for piece in [line] if no_wrap else _wrapped(line, width):
            if len(piece) > width:
                trailing = _TRAILING_SPACE.search(piece)
                if trailing is not None:
                    piece = piece[: len(piece) - min(len(trailing.group()), len(piece) - width)]
            if right:
                piece = piece.rstrip()[:width]
                out.append(" " * (width - len(piece)) + piece)
            else:
                out.append(piece[:width].ljust(width))
    return out


def _wrapped(line: str, width: int) -> list[str]:
    """``line`` broken before each word that does not fit on the current line, a word longer than a line cut into
    pieces of ``width``; each piece keeps the spaces that followed it."""
    breaks: list[int] = []
    used = 0
    word = _WORD.match(line)
    while word is not None:
        start, end = word.span()
        size = len(word.group().rstrip())
        if width - used >= size:
            used += end - start
        elif size > width:
            chunks = range(start, end, width)
            breaks.extend(at for at in chunks if at)
            used = end - chunks[-1]
        elif used and start:
            breaks.append(start)
            used = end - start
        word = _WORD.match(line, end)
    edges = [0, *breaks, len(line)]
    return [line[low:high] for low, high in zip(edges, edges[1:])]


def _centred(text: str, width: int) -> str:
    left = (width - len(text)) // 2
    return " " * left + text + " " * (width - left - len(text))
