"""CSV: one line per row with the standard columns as displayed, the efficiency table's beside them (one
rectangular table reads into any spreadsheet; a second section would not), then machine-readable columns.

Display text comes first so a spreadsheet shows the table; the group fields and unrounded values follow so the same
file can be computed with. The case's extras come last, one ``final_extras.<name>`` column per extra any row has:
their names depend on the runs, so the fixed columns before them keep their places whatever the case. Published rows
(``--reference``) carry ``kind=published``, their source and identity (case, preset, vendor, device model); their
numeric columns stay empty, since a published row is quoted text, not a measurement. Skipped records are not rows
and do not appear (JSON lists them). Empty cell = no value. The marks of :mod:`.marks` are fields too:
``contended``, ``power_too_few_samples`` and ``official_clean`` (true or false).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from typing import Any

from benchbase.foreign import visible
from benchbase.report.columns import EFFICIENCY_COLUMNS, STANDARD_COLUMNS
from benchbase.report.grouping import GroupKey
from benchbase.report.table import EXTRAS_VALUE, VALUE_NAMES, Report, published_cells

GROUP_FIELDS: tuple[str, ...] = tuple(GroupKey.__dataclass_fields__)
#: The columns every CSV report has, in order; :func:`csv_columns` adds the case extras after them.
CSV_COLUMNS: tuple[str, ...] = (
    *STANDARD_COLUMNS,
    *EFFICIENCY_COLUMNS,
    "kind",
    "source",
    *GROUP_FIELDS,
    *VALUE_NAMES,
    "run_ids",
)


def csv_columns(report: Report) -> tuple[str, ...]:
    """The header of ``report``'s CSV: :data:`CSV_COLUMNS`, then ``final_extras.<name>`` per extra in any row."""
    names = dict.fromkeys(name for row in report.rows for name in row.values[EXTRAS_VALUE])
    return (*CSV_COLUMNS, *(f"{EXTRAS_VALUE}.{name}" for name in names))


def render_csv(report: Report) -> str:
    out = io.StringIO()
    columns = csv_columns(report)
    writer = csv.writer(out, lineterminator="\n")
    # The header too: an extra's name is a case's word, and ``final_extras.=cmd`` starts with our prefix but a
    # spreadsheet shows headers where a reader clicks.
    writer.writerow(inert_row(columns))
    for row in report.rows:
        line: dict[str, Any] = {**row.cells, **row.efficiency}
        line.update(kind="measured", source="benchbase", run_ids=" ".join(run.run_id for run in row.runs))
        line.update({name: _plain(value) for name, value in row.key.as_dict().items()})
        line.update({name: _plain(row.values[name]) for name in VALUE_NAMES})
        line.update({f"{EXTRAS_VALUE}.{name}": _plain(value) for name, value in row.values[EXTRAS_VALUE].items()})
        writer.writerow(inert_row(line.get(column, "") for column in columns))
    for ref in report.references:
        line = dict(published_cells(ref))
        line.update(kind="published", source=f"{ref.source} ({ref.source_location})", case=ref.case,
                    preset=ref.preset, vendor=ref.vendor, device_model=ref.device_model)
        writer.writerow(inert_row(line.get(column, "") for column in columns))
    return out.getvalue()


#: What a spreadsheet takes as the start of a formula (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert_row(cells: Iterable[Any]) -> list[Any]:
    """``cells`` with every text cell a spreadsheet would run as a formula prefixed with ``'`` (OWASP's advice): a
    device model, SDK or reason in a record is whatever a plugin or a hand edit wrote, and ``=HYPERLINK(...)`` must
    arrive as text. A cell that is a number (``-1.5``, ``+3``) stays as it is: a spreadsheet reads it as a number,
    not a formula, and a program reading the file needs it unchanged. Control characters in text are spelled out
    (:func:`benchbase.foreign.visible`): the file is also printed to terminals, and no record has a use for them."""
    shown = [visible(cell) if isinstance(cell, str) else cell for cell in cells]
    return ["'" + cell if _formula_like(cell) else cell for cell in shown]


def _formula_like(value: Any) -> bool:
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return False
    try:
        return not math.isfinite(float(value))
    except ValueError:
        return True


def _plain(value: Any) -> Any:
    """Numbers as Python writes them (``repr`` round-trips floats exactly), booleans as true/false, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return value
