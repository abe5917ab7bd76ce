"""JSON: the versioned, machine-readable report (schema ``benchbase.report/2``, docs/report-format.md).

Every number is carried unrounded in ``values`` beside the display text in ``cells``, so a reader can both reproduce
a cell and compute with the value. The detail items are always included: a machine reader has no terminal to fill.
Schema 2 replaced the one case's extra of schema 1 (a token accuracy value) by ``values.final_extras``, every case
extra by name.
"""

from __future__ import annotations

import json
from typing import Any

from benchbase.record.schema import INTERRUPTED
from benchbase.report.columns import CONFIGURATION, EFFICIENCY_COLUMNS, STANDARD_COLUMNS, UNITS
from benchbase.report.reference import ReferenceRow
from benchbase.report.table import Report, Row, published_cells

REPORT_SCHEMA = "benchbase.report/2"


def report_document(report: Report) -> dict[str, Any]:
    """The JSON document as Python objects."""
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": report.generated_at,
        "columns": list(STANDARD_COLUMNS),
        "units": dict(UNITS),
        "rows": [_row(row) for row in report.rows],
        "efficiency": {
            "columns": [CONFIGURATION, *EFFICIENCY_COLUMNS],
            "rows": [{CONFIGURATION: row.cells[CONFIGURATION], **row.efficiency} for row in report.rows],
        },
        "references": [_reference(ref) for ref in report.references],
        "skipped": [{"path": str(skip.path), "reason": skip.reason} for skip in report.skipped],
        "legend": list(report.legend),
    }


def render_json(report: Report) -> str:
    return json.dumps(report_document(report), indent=2, ensure_ascii=True, allow_nan=False) + "\n"


def _row(row: Row) -> dict[str, Any]:
    return {
        "kind": "measured",
        "group": row.key.as_dict(),
        "cells": dict(row.cells),
        "efficiency": dict(row.efficiency),
        "values": dict(row.values),
        "detail": [{"label": label, "text": text} for label, text in row.detail],
        "runs": [
            {
                "run_id": run.run_id,
                "status": run.status,
                "path": str(run.path),
                "parts": [str(part) for part in run.part_paths],
                "repeat_group": run.repeat_group,
                "repeat_index": run.repeat_index,
                "seed": run.seed,
                "hostname": run.hostname,
                "oversubscribed": run.oversubscribed,
                "contended": run.contended,
                "power_too_few_samples": run.too_few_samples,
                "excluded": run.status == INTERRUPTED,
                "notes": list(run.notes),
            }
            for run in row.runs
        ],
    }


def _reference(ref: ReferenceRow) -> dict[str, Any]:
    return {
        "kind": "published",
        "source": ref.source,
        "source_location": ref.source_location,
        "file": str(ref.file),
        "case": ref.case,
        "preset": ref.preset,
        "vendor": ref.vendor,
        "device_model": ref.device_model,
        "label": ref.label,
        "cells": published_cells(ref),
        "values": ref.values,
        "detail": [{"label": label, "text": text} for label, text in ref.detail],
    }
