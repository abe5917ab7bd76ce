"""The run directory: its layout, the names that become its paths, and the check of its summary against the schema.

The layout's names and the summary's fields are :mod:`benchbase.record.schema`'s; docs/records.md is the contract.
Names that become paths (run ids, config variants) are checked so nothing a user or a config types can escape the
output folder, and a summary is validated before it is written, so no record the report would reject is written.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchbase.errors import BenchbaseError
from benchbase.record import disk_space, schema
from benchbase.record.atomic import atomic_write_json, atomic_write_yaml
from benchbase.record.files import RecordError, read_json_record, read_yaml_record
from benchbase.record.nonfinite import decode_nonfinite
from benchbase.record.schema import Field, Kind

_NAME = re.compile(r"[A-Za-z0-9._-]+")
_MAX_NAME = 128
_DAMAGED = "the record is damaged; delete it or run again"


__all__ = ["RecordError", "RunDir", "check_name", "new_run_id", "utc_timestamp", "validate_summary"]


def check_name(name: str, what: str) -> str:
    """Return ``name`` if it is safe as one path component; ids and names from configs end up as folder names."""
    if (
        not isinstance(name, str)
        or not _NAME.fullmatch(name)
        or name.startswith(".")
        or len(name) > _MAX_NAME
    ):
        raise BenchbaseError(
            f"bad {what} {name!r}",
            f"use 1-{_MAX_NAME} of letters, digits, '.', '_' and '-', not starting with '.'",
        )
    return name


def utc_timestamp(now: datetime | None = None) -> str:
    """``2026-11-28T08:00:00Z``: the form of ``started_at`` and ``ended_at``."""
    return _as_utc(now).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id(case: str, vendor: str, nnodes: int, nproc: int, now: datetime | None = None) -> str:
    """``<UTC yyyymmdd-HHMMSS>-<case>-<vendor>-<N>x<M>-<6 hex>``; the random tail keeps simultaneous starts apart."""
    stamp = _as_utc(now).strftime("%Y%m%d-%H%M%S")
    return check_name(f"{stamp}-{case}-{vendor}-{nnodes}x{nproc}-{secrets.token_hex(3)}", "run id")


def _as_utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)


# ---------------------------------------------------------------------------------------------------------------
# The run directory
# ---------------------------------------------------------------------------------------------------------------


class RunDir:
    """One run's folder (``reports/runs/<run_id>/``) and the paths of everything in it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @classmethod
    def create(cls, root: Path, run_id: str) -> RunDir:
        """Make a new run folder; fails if it exists, so two runs started at once never share one."""
        check_name(run_id, "run id")
        root = Path(root)
        _make_root(root)
        path = root / run_id
        try:
            path.mkdir()
        except FileExistsError:
            raise BenchbaseError(f"run directory {path} already exists", "use another run id") from None
        run_dir = cls(path)
        run_dir.logs_dir.mkdir()
        return run_dir

    @classmethod
    def create_unique(cls, root: Path, case: str, vendor: str, nnodes: int, nproc: int, attempts: int = 20) -> RunDir:
        """Create a folder under a fresh run id, drawing a new random suffix while the id is taken."""
        root = Path(root)
        _make_root(root)
        for _ in range(attempts):
            run_id = new_run_id(case, vendor, nnodes, nproc)
            try:
                (root / run_id).mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise disk_space.unwritable(exc, root / run_id, "choose a writable folder with --out") from None
            run_dir = cls(root / run_id)
            try:
                run_dir.logs_dir.mkdir()
            except OSError as exc:
                with contextlib.suppress(OSError):
                    run_dir.path.rmdir()  # a folder without even logs/ is no record: leave none
                raise disk_space.unwritable(exc, run_dir.logs_dir, "choose a writable folder with --out") from None
            return run_dir
        raise BenchbaseError(f"could not find a free run id under {root} in {attempts} tries", "use another --out")

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """An existing run folder (for ``--resume`` and the report)."""
        path = Path(path)
        if not path.is_dir():
            raise RecordError(f"no run directory at {path}", "give the path of a folder under reports/runs/")
        return cls(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / schema.CONFIG_FILE

    @property
    def env_path(self) -> Path:
        return self.path / schema.ENV_FILE

    @property
    def events_path(self) -> Path:
        return self.path / schema.EVENTS_FILE

    @property
    def telemetry_path(self) -> Path:
        return self.path / schema.TELEMETRY_FILE

    @property
    def summary_path(self) -> Path:
        return self.path / schema.SUMMARY_FILE

    @property
    def logs_dir(self) -> Path:
        return self.path / schema.LOGS_DIR

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / schema.CHECKPOINT_DIR

    def log_path(self, rank: int) -> Path:
        return self.logs_dir / schema.RANK_LOG.format(rank=int(rank))

    def node_telemetry_path(self, node: int) -> Path:
        """Where another node's telemetry is gathered (``nodes/<k>/telemetry.csv``)."""
        return self.path / schema.NODES_DIR / str(int(node)) / schema.TELEMETRY_FILE

    def telemetry_paths(self) -> list[Path]:
        """This node's telemetry file and every gathered node's file that exists."""
        paths = [self.telemetry_path] if self.telemetry_path.is_file() else []
        nodes = self.path / schema.NODES_DIR
        if nodes.is_dir():
            numbered = [p for p in nodes.iterdir() if p.name.isdigit() and (p / schema.TELEMETRY_FILE).is_file()]
            paths += [p / schema.TELEMETRY_FILE for p in sorted(numbered, key=lambda p: int(p.name))]
        return paths

    def write_config(self, record: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> None:
        """The resolved config's record (``ResolvedConfig.to_record()``) plus ``extra`` facts a reader wants beside
        it (run id, topology); ``extra`` may not overwrite a config field, so ``ResolvedConfig.from_record`` reads
        the file back unchanged. Taking the plain record keeps this module free of the config module, which itself
        uses the record's helpers."""
        clashes = sorted(set(extra or {}) & set(record))
        if clashes:
            raise ValueError(f"extra config fields {', '.join(clashes)} would overwrite the resolved config")
        atomic_write_yaml(self.config_path, {**record, **(extra or {})})

    def write_env(self, env: Mapping[str, Any]) -> None:
        atomic_write_json(self.env_path, dict(env))

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        """Validated before writing: a record that the report would reject must not be written in the first place."""
        validate_summary(summary, where=str(self.summary_path))
        atomic_write_json(self.summary_path, dict(summary))

    def read_summary(self) -> dict[str, Any]:
        summary = self._read_json(self.summary_path)
        validate_summary(summary, where=str(self.summary_path))
        return summary

    def read_env(self) -> dict[str, Any]:
        return self._read_json(self.env_path)

    def read_config(self) -> dict[str, Any]:
        """``config.yaml`` through the record layer's bounded YAML reader (:mod:`benchbase.record.files`)."""
        data = read_yaml_record(self.config_path)
        if not isinstance(data, dict):
            raise RecordError(f"{self.config_path} does not hold a mapping", _DAMAGED)
        return data

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any]:
        data = read_json_record(path)
        if not isinstance(data, dict):
            raise RecordError(f"{path} does not hold a JSON object", _DAMAGED)
        try:
            return decode_nonfinite(data)
        except ValueError as exc:
            raise RecordError(f"{path}: {exc}", _DAMAGED) from None


def _make_root(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchbaseError(
            f"cannot create output folder {root}: {exc.strerror}", "choose a writable folder with --out"
        ) from None


# ---------------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------------


def validate_summary(summary: Mapping[str, Any], where: str = schema.SUMMARY_FILE) -> None:
    """Raise :class:`RecordError` naming the first problem; the report skips such a record and prints why.

    Every field of :data:`benchbase.record.schema.SUMMARY_FIELDS` that every record has is checked; unknown extra
    keys are allowed, so a newer writer's records stay readable.
    """
    if not isinstance(summary, Mapping):
        raise RecordError(f"{where} does not hold a JSON object", _DAMAGED)
    fields = [field for field in schema.SUMMARY_FIELDS if field.always_present]
    for field in fields:
        if field.name not in summary:
            raise RecordError(f"{where} has no {field.name!r}", _DAMAGED)
        value = summary[field.name]
        if value is None and not field.required:
            continue
        if not _is(value, field.kind):
            raise RecordError(
                f"{where}: {field.name!r} should be {field.kind.value}, got {_type_name(value)}", _DAMAGED
            )
    if summary["schema"] != schema.SUMMARY_SCHEMA:
        raise RecordError(
            f"{where} has schema {summary['schema']}, this benchbase reads {schema.SUMMARY_SCHEMA}", _DAMAGED
        )
    status = summary["status"]
    if status != schema.RUNNING and status not in schema.STATUS_EXIT_CODES:
        allowed = ", ".join([schema.RUNNING, *schema.STATUS_EXIT_CODES])
        raise RecordError(f"{where}: unknown status {status!r} (expected one of {allowed})", _DAMAGED)
    expected_code = schema.STATUS_EXIT_CODES.get(status)
    if summary["exit_code"] != expected_code:
        raise RecordError(
            f"{where}: exit_code {summary['exit_code']} does not match status {status!r} ({expected_code})", _DAMAGED
        )
    for field in fields:
        _validate_keys(summary[field.name], field, where)
    for field in fields:
        for key in field.keys:
            if key.choices and summary[field.name] is not None and summary[field.name][key.name] not in key.choices:
                raise RecordError(
                    f"{where}: {field.name}.{key.name} must be one of {', '.join(key.choices)}", _DAMAGED
                )


def _validate_keys(nested: Any, field: Field, where: str) -> None:
    """The keys of one of the summary's objects; a null object (one not required) has none to check."""
    if not field.keys or nested is None:
        return
    for key in field.keys:
        if key.name not in nested:
            if not key.always_present:  # a key the object gained after records were written without it
                continue
            raise RecordError(f"{where} has no {field.name}.{key.name}", _DAMAGED)
        value = nested[key.name]
        if value is not None and not _is(value, key.kind):
            raise RecordError(
                f"{where}: {field.name}.{key.name} should be {key.kind.value}, got {_type_name(value)}", _DAMAGED
            )


def _is(value: Any, kind: Kind) -> bool:
    if kind is Kind.NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is Kind.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is Kind.STRING:
        return isinstance(value, str)
    if kind is Kind.BOOLEAN:
        return isinstance(value, bool)
    if kind is Kind.NUMBERS:
        return isinstance(value, dict) and all(_is(extra, Kind.NUMBER) for extra in value.values())
    if kind is Kind.VERSIONS:
        return isinstance(value, dict) and all(isinstance(version, (str, type(None))) for version in value.values())
    return isinstance(value, dict)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
