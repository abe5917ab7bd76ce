"""One run as the report sees it: the fields of ``summary.json`` (schema 2 or 1, docs/records.md), type-checked.

The report reads records that people copy around, hand-edit and truncate, so every field is checked against the
type the format promises before any arithmetic touches it. A field of the wrong type makes the whole record
unusable (:class:`SummaryError`, turned into a "skipped" line by the loader); a measurement that is absent is read
as ``None`` ("not measured"), because a record from a crashed run may lack it and still count for stability.
A non-finite number (``NaN`` from a diverged run) is also read as ``None``: it is no measurement either.
Schema-1 records stay readable, because runs are compared across benchbase versions: their one extra of the
case (``final_<name>``) is read as ``final_extras`` of schema 2.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchbase.record import schema
from benchbase.record.schema import Kind


class SummaryError(ValueError):
    """``summary.json`` exists but cannot be used; the message is the "skipped" reason."""


@dataclass(frozen=True)
class Run:
    """A finished run (for a multi-node run: all nodes merged into one, see :mod:`.multinode`).

    Its attributes are the summary's fields the report reads (:func:`benchbase.record.schema.reported_fields`),
    under their report names (``run.p_train``, ``run.power_w_per_device``), so a field the schema gains is a
    run's attribute without an edit here; :attr:`values` holds them all. As read: a number is a finite float or
    ``None``, ``final_extras`` holds the finite extras only (``{}`` without any), ``software`` is sorted
    (name, version) pairs, ``node_rank`` is 0 when not recorded and ``sdk`` is :data:`SDK_NOT_REPORTED`.
    """

    path: Path
    #: Report name -> value as read: a measurement that was not recorded is ``None``.
    values: Mapping[str, Any]
    #: Directories of the other nodes' records merged into this run (multi-node).
    part_paths: tuple[Path, ...] = ()
    #: What the report had to assume or could not find while reading this run (shown in the detail view).
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # Each value is also an instance attribute, so ``run.p_train`` is a plain lookup: a report over thousands of
        # runs reads such attributes millions of times, and a failed lookup ending in __getattr__ costs several
        # times more. A name the class already uses (a field or property) keeps its meaning.
        own = self.__dict__
        taken = _class_names(type(self))
        for name, value in self.values.items():
            if name not in own and name not in taken:
                own[name] = value

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def topology(self) -> str:
        """``NxM``: nodes x processes per node, the ``--config`` spelling."""
        return f"{self.nnodes}x{self.nproc_per_node}"

    @property
    def completed(self) -> bool:
        return self.status in schema.COMPLETED_STATUSES


@functools.cache
def _class_names(cls: type) -> frozenset[str]:
    """The attributes a run's class defines (fields, properties, methods), which a value never shadows."""
    return frozenset(name for klass in cls.__mro__ for name in vars(klass))


#: The parallelism of a record that names none (made before the ``parallelism`` key): DDP, the only one there was.
DDP = "ddp"
#: Configuration's SDK part when the vendor's environment() gave no ``sdk``.
SDK_NOT_REPORTED = "SDK not reported"
#: How a message names a kind, where a person editing the file reads it better than the schema's word.
_EXPECTED = {Kind.BOOLEAN: "true or false"}


def parse_summary(data: Any, path: Path) -> Run:
    """Check ``data`` (the loaded ``summary.json``) against its schema and build the :class:`Run`.

    Fields that identify the run's configuration are required: without them the run cannot be placed in any row.
    """
    if not isinstance(data, Mapping):
        raise SummaryError(f"summary.json holds {_json_kind(data)}, not an object")
    version = data.get("schema")
    if version not in schema.READABLE_SUMMARY_SCHEMAS or isinstance(version, bool):
        readable = " and ".join(map(str, schema.READABLE_SUMMARY_SCHEMAS))
        raise SummaryError(f"summary.json schema is {version!r}; this report reads schemas {readable}")
    if version == 1:
        data = _from_schema_1(data)
    values = {name: _read(data, location, kind, identifies) for name, location, kind, identifies in _reported()}
    if values["status"] not in schema.FINAL_STATUSES:
        raise SummaryError(
            f"summary.json status {values['status']!r} is not one of {', '.join(schema.FINAL_STATUSES)}"
        )
    for name in ("nnodes", "nproc_per_node", "world_size", "per_device_batch", "global_batch"):
        if values[name] < 1:
            raise SummaryError(f"summary.json field '{name}' is {values[name]}, expected at least 1")
    values["node_rank"] = values["node_rank"] or 0
    values["final_extras"] = values["final_extras"] or {}
    # environment() is optional for a vendor; a row without the key says so instead of being dropped.
    values["sdk"] = values["sdk"] or SDK_NOT_REPORTED
    # Records made before the core key trained every multi-rank run with DDP.
    values["parallelism"] = values["parallelism"] or DDP
    return Run(path=path, values=values)


#: The schema's fields as last read by :func:`_reported`, and what the report reads of them.
_REPORTED: list[Any] = [None, ()]


def _reported() -> tuple[tuple[str, tuple[str, ...], Kind, bool], ...]:
    """What :func:`parse_summary` reads of every summary: report name, place, kind, required. Worked out once per
    schema (the tuple of fields a new field is added to), not once per record: a report over thousands of runs reads
    thousands of summaries."""
    if _REPORTED[0] is not schema.SUMMARY_FIELDS:
        _REPORTED[:] = [schema.SUMMARY_FIELDS, tuple((spec.report_name, location, spec.kind, spec.identifies)
                                                     for location, spec in schema.reported_fields())]
    return _REPORTED[1]


def _from_schema_1(data: Mapping[str, Any]) -> dict[str, Any]:
    """A schema-1 summary in the schema-2 shape: its ``final_<name>`` numbers besides ``final_metric`` (there was
    one, the CPM case's extra) become ``final_extras``; a field of another type there was no extra and is dropped."""
    extras = {
        key.removeprefix("final_"): value
        for key, value in data.items()
        if key.startswith("final_") and key != "final_metric" and isinstance(value, (int, float))
        and not isinstance(value, bool)
    }
    return {**data, "final_extras": extras}


def _read(data: Mapping[str, Any], location: tuple[str, ...], kind: Kind, required: bool) -> Any:
    value: Any = data
    for key in location:
        if value is None and not required:
            return None  # an optional object written as null (no env.json for "host"): nothing in it was recorded
        if type(value) is not dict and not isinstance(value, Mapping):  # JSON's objects are dicts: checked first
            raise SummaryError(
                f"summary.json field '{_dotted(location)}': its parent is {_json_kind(value)}, not an object"
            )
        if key not in value:
            if required:
                raise SummaryError(f"summary.json lacks the field '{_dotted(location)}'")
            return None
        value = value[key]
    if value is None:
        if required:
            raise SummaryError(f"summary.json field '{_dotted(location)}' is null")
        return None
    if kind is Kind.BOOLEAN and isinstance(value, bool):
        return value
    if kind is Kind.STRING and isinstance(value, str):
        return value
    if kind is Kind.INTEGER and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is Kind.NUMBER and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            if required:
                raise SummaryError(f"summary.json field '{_dotted(location)}' is {value}, expected a finite number")
            return None
        return float(value)
    if kind is Kind.VERSIONS and isinstance(value, Mapping) and all(
        isinstance(version, (str, type(None))) for version in value.values()
    ):
        return tuple(sorted((str(name), version) for name, version in value.items()))
    if kind is Kind.NUMBERS and isinstance(value, Mapping):
        # Each extra is read as an optional number: a null one (a NaN is written as null) was not measured.
        extras = {name: _read(data, (*location, name), Kind.NUMBER, False) for name in value}
        return {name: number for name, number in extras.items() if number is not None}
    expected = _EXPECTED.get(kind, kind.value)
    raise SummaryError(f"summary.json field '{_dotted(location)}' is {_json_kind(value)}, expected {expected}")


def _dotted(location: tuple[str, ...]) -> str:
    """A field's place as its messages name it (built only for a message: a report reads 70 fields a summary)."""
    return ".".join(location)


def _json_kind(value: Any) -> str:
    """Name a decoded JSON value the way a person editing the file would."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:17] + "..."
        return f"{shown!r} (a string)"
    if isinstance(value, (int, float)):
        return f"{value} (a number)"
    return "null"
