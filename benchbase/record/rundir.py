"""The run directory: its layout, atomic writes, and the summary schema (docs/records.md is the format contract).

A record must survive the run that writes it being killed at any instant: every JSON/YAML file is replaced
atomically, so a reader sees the old file or the new one, never half of one. Names that become paths (run ids, config
variants) are checked so nothing a user or a config types can escape the output folder.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from benchbase.record import disk_space
from benchbase.errors import BenchbaseError

SUMMARY_SCHEMA = 2
RUNNING = "running"
STATUS_EXIT_CODES: dict[str, int] = {
    "converged": 0,
    "not_converged": 3,
    "failed": 4,
    "timeout": 5,
    "interrupted": 130,
}
#: Key under which a JSON object lists the numbers that JSON cannot hold (see :func:`encode_nonfinite`).
NONFINITE_KEY = "nonfinite"

_NAME = re.compile(r"[A-Za-z0-9._-]+")
_MAX_NAME = 128
_DAMAGED = "the record is damaged; delete it or run again"


class RecordError(BenchbaseError):
    """A run record that is missing, truncated or of the wrong shape; the message names the file and what is wrong."""


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
# Atomic writes
# ---------------------------------------------------------------------------------------------------------------


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import (single-threaded then): os.umask can only be read by setting it, which is not thread-safe.
_FILE_MODE = 0o666 & ~_current_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """:func:`atomic_write` of bytes already in memory."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write(path: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Let ``fill`` write a temp file in the same folder, fsync, then ``os.replace``: readers see the old or the new
    file, never a part, whoever writes (records, caches, checkpoints: this is benchbase's one atomic writer)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), _FILE_MODE)
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; some filesystems refuse fsync on a folder, and the data is safe without it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Strict JSON (no ``NaN`` tokens, which many readers reject): non-finite numbers go through
    :func:`encode_nonfinite` when ``obj`` is a mapping."""
    payload = encode_nonfinite(obj) if isinstance(obj, Mapping) else obj
    atomic_write_text(path, json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def atomic_write_yaml(path: Path, obj: Any) -> None:
    atomic_write_text(path, yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))


# ---------------------------------------------------------------------------------------------------------------
# Non-finite numbers
# ---------------------------------------------------------------------------------------------------------------


def encode_nonfinite(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Replace NaN/inf anywhere inside ``obj`` by ``null`` and list them under ``"nonfinite"``.

    A diverged loss must stay visible, yet JSON has no NaN: ``{"value": NaN}`` becomes
    ``{"value": null, "nonfinite": {"/value": "nan"}}``. Keys are JSON Pointers (RFC 6901) so any nesting is
    addressable; values are ``"nan"``, ``"inf"`` or ``"-inf"``. :func:`decode_nonfinite` restores the numbers.
    """
    found: dict[str, str] = {}

    def walk(value: Any, pointer: str) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            found[pointer] = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
            return None
        if isinstance(value, Mapping):
            return {k: walk(v, f"{pointer}/{_escape_pointer(str(k))}") for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, f"{pointer}/{i}") for i, v in enumerate(value)]
        return value

    encoded = {k: walk(v, "/" + _escape_pointer(str(k))) for k, v in obj.items() if k != NONFINITE_KEY}
    if found:
        encoded[NONFINITE_KEY] = found
    return encoded


def decode_nonfinite(obj: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`encode_nonfinite`, in place; raises ValueError for a marker that points nowhere."""
    markers = obj.pop(NONFINITE_KEY, None)
    if markers is None:
        return obj
    if not isinstance(markers, dict):
        raise ValueError(f"{NONFINITE_KEY!r} is not an object")
    for pointer, text in markers.items():
        if text not in ("nan", "inf", "-inf"):
            raise ValueError(f"{NONFINITE_KEY!r} entry {pointer!r} has unknown value {text!r}")
        parts = [_unescape_pointer(p) for p in str(pointer).split("/")[1:]]
        if not parts:
            raise ValueError(f"{NONFINITE_KEY!r} entry {pointer!r} points at the whole object")
        container: Any = obj
        try:
            for part in parts[:-1]:
                container = container[int(part)] if isinstance(container, list) else container[part]
            last = parts[-1]
            if isinstance(container, list):
                container[int(last)] = float(text)
            elif isinstance(container, dict) and last in container:
                container[last] = float(text)
            else:
                raise KeyError(last)
        except (KeyError, IndexError, ValueError, TypeError):
            raise ValueError(f"{NONFINITE_KEY!r} entry {pointer!r} points nowhere") from None
    return obj


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _unescape_pointer(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


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
        return self.path / "config.yaml"

    @property
    def env_path(self) -> Path:
        return self.path / "env.json"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def telemetry_path(self) -> Path:
        return self.path / "telemetry.csv"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoint"

    def log_path(self, rank: int) -> Path:
        return self.logs_dir / f"rank{int(rank)}.log"

    def node_telemetry_path(self, node: int) -> Path:
        """Where another node's telemetry is gathered (``nodes/<k>/telemetry.csv``)."""
        return self.path / "nodes" / str(int(node)) / "telemetry.csv"

    def telemetry_paths(self) -> list[Path]:
        """This node's telemetry file and every gathered node's file that exists."""
        paths = [self.telemetry_path] if self.telemetry_path.is_file() else []
        nodes = self.path / "nodes"
        if nodes.is_dir():
            numbered = [p for p in nodes.iterdir() if p.name.isdigit() and (p / "telemetry.csv").is_file()]
            paths += [p / "telemetry.csv" for p in sorted(numbered, key=lambda p: int(p.name))]
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
        path = self.config_path
        text = _read_text(path)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            raise RecordError(f"{path} is not valid YAML (truncated or edited?)", _DAMAGED) from None
        if not isinstance(data, dict):
            raise RecordError(f"{path} does not hold a mapping", _DAMAGED)
        return data

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any]:
        text = _read_text(path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path} is not valid JSON at line {exc.lineno} (truncated?)", _DAMAGED) from None
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


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordError(f"{path} is missing", _DAMAGED) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"cannot read {path}: {exc}", _DAMAGED) from None


# ---------------------------------------------------------------------------------------------------------------
# Summary schema 2
# ---------------------------------------------------------------------------------------------------------------

_NUMBER = "a number"
_INT = "an integer"
_STR = "a string"
_BOOL = "a boolean"
_OBJECT = "an object"
_EXTRAS = "an object of numbers"

#: Metadata key of an ``eval`` event under which the worker puts the case's extra numbers (name -> value).
EVAL_EXTRAS_KEY = "extras"
#: Metadata keys the worker itself puts on an ``eval`` event. Older workers wrote the case's extras flat beside
#: these, so in that form everything else numeric is an extra.
_EVAL_OWN_KEYS = frozenset({"eval_s", "start_ms", "end_ms"})


def eval_extras(metadata: Any) -> dict[str, float]:
    """The case's extra numbers of one ``eval`` event's ``metadata``, in the order the case gave them.

    Reads both forms the event log has had: ``{"extras": {name: value}}`` and, from older workers, the extras flat
    in the metadata. Anything that is not a number is left out: a case's extras are numbers by the contract, and a
    reader of hand-edited logs must not choke on one that is not. NaN stays (a diverged extra must show).
    """
    if not isinstance(metadata, Mapping):
        return {}
    nested = metadata.get(EVAL_EXTRAS_KEY)
    if isinstance(nested, Mapping):
        items = nested.items()
    else:
        items = ((key, value) for key, value in metadata.items() if key not in _EVAL_OWN_KEYS)
    return {str(key): value for key, value in items if _is(value, _NUMBER)}


#: Top-level fields of summary schema 2 and their types; every field except those in ``_REQUIRED`` may be null.
#: Schema 2 replaced schema 1's one case-specific field (CPM's final token accuracy) by ``final_extras`` and
#: ``initial_extras`` (every extra of the last/first evaluation, whatever the case); the writer writes 2 only, the
#: report reads both.
SUMMARY_FIELDS: dict[str, str] = {
    "schema": _INT,
    "run_id": _STR,
    "case": _STR,
    "preset": _STR,
    "vendor": _STR,
    "official": _BOOL,
    "status": _STR,
    "exit_code": _INT,
    "reason": _STR,
    "started_at": _STR,
    "ended_at": _STR,
    "nnodes": _INT,
    "nproc_per_node": _INT,
    "world_size": _INT,
    "node_rank": _INT,
    "main_run_id": _STR,
    "repeat_group": _STR,
    "repeat_index": _INT,
    "device_model": _STR,
    "sdk": _STR,
    "precision": _STR,
    "per_device_batch": _INT,
    "global_batch": _INT,
    "grad_accum": _INT,
    "metric_name": _STR,
    "target": _NUMBER,
    "final_metric": _NUMBER,
    "final_extras": _EXTRAS,
    "initial_metric": _NUMBER,
    "initial_extras": _EXTRAS,
    "steps": _INT,
    "samples": _INT,
    "converged_step": _INT,
    "converged_samples": _INT,
    "windows": _OBJECT,
    "throughput": _OBJECT,
    "time_to_target_s": _NUMBER,
    "flops_per_sample": _NUMBER,
    "peak_flops_per_device": _NUMBER,
    "mfu": _NUMBER,
    "power": _OBJECT,
    "memory": _OBJECT,
    "harness": _OBJECT,
    "config_hash": _STR,
}
_REQUIRED = (
    "schema", "run_id", "case", "vendor", "official", "status", "windows", "throughput", "power", "memory", "harness"
)
WINDOW_KEYS = ("init_s", "train_s", "eval_s", "core_s", "whole_s", "data_wait_s", "e2e_s")
THROUGHPUT_KEYS = ("p_train", "p_core", "p_whole", "fps_e2e")
POWER_SOURCES = ("telemetry", "unavailable")
MEMORY_SOURCES = ("vendor", "telemetry", "unavailable")
_NESTED: dict[str, dict[str, str]] = {
    "windows": dict.fromkeys(WINDOW_KEYS, _NUMBER),
    "throughput": dict.fromkeys(THROUGHPUT_KEYS, _NUMBER),
    "power": {"mean_w_per_device": _NUMBER, "energy_per_sample_j": _NUMBER, "source": _STR, "energy_source": _STR},
    "harness": {"supervisor_cpu_s": _NUMBER, "events_cpu_s": _NUMBER, "cpu_s": _NUMBER, "share_of_train": _NUMBER},
    "memory": {"peak_gib_per_device": _NUMBER, "source": _STR},
}


def _is(value: Any, kind: str) -> bool:
    if kind == _NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _STR:
        return isinstance(value, str)
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _EXTRAS:
        return isinstance(value, dict) and all(_is(extra, _NUMBER) for extra in value.values())
    return isinstance(value, dict)


def validate_summary(summary: Mapping[str, Any], where: str = "summary.json") -> None:
    """Raise :class:`RecordError` naming the first problem; the report skips such a record and prints why.

    Unknown extra keys are allowed, so a newer writer's records stay readable.
    """
    if not isinstance(summary, Mapping):
        raise RecordError(f"{where} does not hold a JSON object", _DAMAGED)
    for key, kind in SUMMARY_FIELDS.items():
        if key not in summary:
            raise RecordError(f"{where} has no {key!r}", _DAMAGED)
        value = summary[key]
        if value is None and key not in _REQUIRED:
            continue
        if not _is(value, kind):
            raise RecordError(f"{where}: {key!r} should be {kind}, got {_type_name(value)}", _DAMAGED)
    if summary["schema"] != SUMMARY_SCHEMA:
        raise RecordError(f"{where} has schema {summary['schema']}, this benchbase reads {SUMMARY_SCHEMA}", _DAMAGED)
    status = summary["status"]
    if status != RUNNING and status not in STATUS_EXIT_CODES:
        allowed = ", ".join([RUNNING, *STATUS_EXIT_CODES])
        raise RecordError(f"{where}: unknown status {status!r} (expected one of {allowed})", _DAMAGED)
    expected_code = STATUS_EXIT_CODES.get(status)
    if summary["exit_code"] != expected_code:
        raise RecordError(
            f"{where}: exit_code {summary['exit_code']} does not match status {status!r} ({expected_code})", _DAMAGED
        )
    for name, fields in _NESTED.items():
        nested = summary[name]
        for key, kind in fields.items():
            if key not in nested:
                raise RecordError(f"{where} has no {name}.{key}", _DAMAGED)
            if nested[key] is not None and not _is(nested[key], kind):
                raise RecordError(
                    f"{where}: {name}.{key} should be {kind}, got {_type_name(nested[key])}", _DAMAGED
                )
    if summary["power"]["source"] not in POWER_SOURCES:
        raise RecordError(f"{where}: power.source must be one of {', '.join(POWER_SOURCES)}", _DAMAGED)
    if summary["memory"]["source"] not in MEMORY_SOURCES:
        raise RecordError(f"{where}: memory.source must be one of {', '.join(MEMORY_SOURCES)}", _DAMAGED)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
