"""Published results (``benchbase/report/reference_data/*.yaml``) shown beside measured rows with ``--reference``.

A reference file quotes a public source: every cell is kept as the text the source printed and is never recomputed,
so a reader can hold it against the source line by line. Cells the source does not publish say so. The file format
is documented in docs/report-format.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchbase.errors import BenchbaseError
from benchbase.report import formatting
from benchbase.report.columns import STANDARD_COLUMNS

REFERENCE_SCHEMA = "benchbase.reference/1"
#: Package data of the core distribution (``benchbase-core``): the same folder in a source checkout and in a wheel.
DEFAULT_REFERENCE_DIR = Path(__file__).resolve().parent / "reference_data"
NOT_PUBLISHED = formatting.not_available("not published")


@dataclass(frozen=True)
class ReferenceRow:
    """One published result, quoted."""

    source: str
    source_location: str
    file: Path
    case: str
    vendor: str
    device_model: str
    label: str
    cells: Mapping[str, str]
    detail: tuple[tuple[str, str], ...]
    #: The case preset whose workload the source ran (``preset:`` in the file; published results are of the
    #: official workload unless the file says otherwise).
    preset: str = "official"

    @property
    def values(self) -> dict[str, float]:
        """The cells that are plain numbers, as numbers (for JSON and CSV readers)."""
        numbers: dict[str, float] = {}
        for column, text in self.cells.items():
            try:
                numbers[column] = float(text)
            except ValueError:
                continue
        return numbers


def load_references(directory: Path | None = None) -> tuple[ReferenceRow, ...]:
    """Every row of every ``*.yaml`` file in ``directory`` (default: the published results shipped with the core)."""
    folder = directory or DEFAULT_REFERENCE_DIR
    if not folder.is_dir():
        fix = (
            "reinstall the benchbase-core distribution: its wheel ships the published results as package data "
            "(benchbase/report/reference_data)"
            if directory is None
            else "pass the folder holding the reference YAML files"
        )
        raise BenchbaseError(f"reference folder {folder} not found", fix)
    rows: list[ReferenceRow] = []
    for path in sorted(folder.glob("*.yaml")):
        rows.extend(_read_file(path))
    return tuple(rows)


def _read_file(path: Path) -> list[ReferenceRow]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise BenchbaseError(f"cannot read reference file {path}: {err}", "fix or remove the file") from err
    fix = f"see docs/report-format.md for the layout of {path.name}"
    if not isinstance(data, Mapping) or data.get("schema") != REFERENCE_SCHEMA:
        raise BenchbaseError(f"{path} is not a '{REFERENCE_SCHEMA}' reference file", fix)
    if data.get("published") is not True:
        raise BenchbaseError(f"{path} lacks 'published: true'", "reference files hold published numbers only")
    head = {name: _text(data, name, path) for name in ("source", "source_location", "case", "vendor", "device_model")}
    if "preset" in data:
        head["preset"] = _text(data, "preset", path)
    rows = data.get("rows")
    if not isinstance(rows, list) or not rows:
        raise BenchbaseError(f"{path} has no 'rows' list", fix)
    return [_read_row(row, head, path, fix) for row in rows]


def _read_row(row: Any, head: Mapping[str, str], path: Path, fix: str) -> ReferenceRow:
    if not isinstance(row, Mapping):
        raise BenchbaseError(f"{path}: each entry of 'rows' must be a mapping", fix)
    label = _text(row, "label", path)
    standard = row.get("standard") or {}
    detail = row.get("detail") or {}
    if not isinstance(standard, Mapping) or not isinstance(detail, Mapping):
        raise BenchbaseError(f"{path}, row {label!r}: 'standard' and 'detail' must be mappings", fix)
    unknown = sorted(set(standard) - set(STANDARD_COLUMNS))
    if unknown:
        raise BenchbaseError(
            f"{path}, row {label!r}: unknown column(s) {', '.join(map(str, unknown))}",
            f"use the standard column names: {', '.join(STANDARD_COLUMNS)}",
        )
    cells = {column: _quoted(standard[column]) if column in standard else NOT_PUBLISHED for column in STANDARD_COLUMNS}
    return ReferenceRow(
        file=path,
        label=label,
        cells=cells,
        detail=tuple((str(name), _quoted(value)) for name, value in detail.items()),
        **head,
    )


def _text(data: Mapping[str, Any], name: str, path: Path) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BenchbaseError(f"{path} lacks the text field '{name}'", "see docs/report-format.md")
    return value


def _quoted(value: Any) -> str:
    """Cells are quoted text; a bare YAML number is accepted as YAML reads it (quote it to keep ``0.910``)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BenchbaseError(f"reference cell {value!r} is not text or a number", "quote the value as published")
    return str(value)
