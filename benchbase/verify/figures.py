"""Every derived figure of a summary, recomputed from the raw files by the code that defines it.

The summary builder (:func:`benchbase.record.summary.build_summary`) IS the definition of each derived figure, so
verify does not write a second one that could drift from it: it rebuilds the summary from the record's raw files and
the supervisor's own fields (which no raw file holds; :mod:`.claims` checks those against the files that repeat
them), then names every field whose recorded value differs. An edit of ``p_train`` alone, a telemetry file that no
longer gives the recorded power, an ``env.json`` that no longer gives the recorded versions: each is a finding.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from benchbase.record import schema
from benchbase.record.rundir import RunDir
from benchbase.record.summary import build_summary
from benchbase.run.supervisor import observer_errors
from benchbase.verify.findings import Finding

#: Relative tolerance of a number's comparison: the summary holds what the builder computed, written and read
#: back as JSON (exact for floats), so any difference beyond rounding noise is an edit or a different raw file.
REL_TOL = 1e-9


def supervisor_fields(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The base fields as the summary records them, nested ones (``windows.e2e_s``) lifted to their key."""
    base = {name: summary[name] for name in schema.base_field_names() if name in summary}
    for field in schema.SUMMARY_FIELDS:
        nested = summary.get(field.name)
        for key in field.keys:
            if key.base and isinstance(nested, Mapping) and key.name in nested:
                base[key.name] = nested[key.name]
    return base


def recompute(run_dir: RunDir, summary: Mapping[str, Any],
              observer_events: list[dict[str, Any]]) -> tuple[list[Finding], list[str]]:
    """Findings for every summary field whose value the raw files do not give, and the places the summary lacks
    altogether (a record written before that field existed: left unchecked, and said so, rather than failed).
    ``observer_events`` are the log's ``observer_error`` events (none for a log that cannot be read), gathered by
    verify's one pass over the log rather than by a second one here."""
    extras = {key: value for key, value in summary.items() if key not in schema.field_names()}
    rebuilt = build_summary(run_dir, supervisor_fields(summary), extras=extras)
    findings, absent = [], []
    for field in schema.SUMMARY_FIELDS:
        for place, recorded, computed in differences(field.name, summary.get(field.name, ABSENT),
                                                     rebuilt.get(field.name)):
            if recorded is ABSENT:
                absent.append(place)
            else:
                findings.append(Finding(place, f"the summary says {_show(recorded)}, the raw files give "
                                               f"{_show(computed)}"))
    recorded_errors = summary.get(schema.OBSERVER_ERRORS, ABSENT)
    logged_errors = observer_errors(observer_events)
    if recorded_errors is not ABSENT and recorded_errors != logged_errors:
        findings.append(Finding(schema.OBSERVER_ERRORS, f"the summary lists {_show(recorded_errors)}, the log's "
                                                        f"observer_error events {_show(logged_errors)}"))
    return findings, absent


#: A key the recorded summary does not have at all (as opposed to one recorded as null).
ABSENT = object()


def differences(place: str, recorded: Any, computed: Any) -> Iterator[tuple[str, Any, Any]]:
    """(place, recorded, computed) for each leaf where the two differ, objects compared key by key; a key only the
    recomputation has is yielded with :data:`ABSENT` as its recorded value."""
    if isinstance(recorded, Mapping) and isinstance(computed, Mapping):
        for key in sorted(set(recorded) | set(computed), key=str):
            yield from differences(f"{place}.{key}", recorded.get(key, ABSENT), computed.get(key))
    elif isinstance(recorded, list) and isinstance(computed, list) and len(recorded) == len(computed):
        for index, (one, other) in enumerate(zip(recorded, computed)):
            yield from differences(f"{place}[{index}]", one, other)
    elif recorded is ABSENT:
        yield place, recorded, computed
    elif not same(recorded, computed):
        yield place, recorded, computed


def same(recorded: Any, computed: Any) -> bool:
    """Equal, numbers to :data:`REL_TOL` (NaN equals NaN: a diverged metric recorded as such is recorded right)."""
    if _is_number(recorded) and _is_number(computed):
        if math.isnan(recorded) or math.isnan(computed):
            return math.isnan(recorded) and math.isnan(computed)
        return math.isclose(recorded, computed, rel_tol=REL_TOL, abs_tol=1e-12)
    return type(recorded) is type(computed) and recorded == computed


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if _is_number(value):
        return f"{value:.6g}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
