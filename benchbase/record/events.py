"""The event log: MLPerf-logging style, one JSON object per line in ``events.jsonl`` (docs/records.md).

Rank 0 and the supervisor append to the same file. Each event is one ``os.write`` of one whole line on an
``O_APPEND`` descriptor, so lines of two processes never interleave, and a process killed mid-run leaves at worst a
torn last line, which the readers ignore. Numbers JSON cannot hold (a diverged NaN loss) are written as ``null`` and
listed under ``"nonfinite"`` (see :func:`benchbase.record.nonfinite.encode_nonfinite`); the readers give them back as
floats. A write the disk refuses raises :class:`benchbase.record.disk_space.RecordUnwritable` naming the file, so that
its writer can end honestly instead of with a traceback.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from benchbase.record import disk_space
from benchbase.record.files import (
    JsonTooDeep,
    as_path,
    RecordMissing,
    loads_bounded,
    open_record_for_append,
    record_lines,
)
from benchbase.record.nonfinite import decode_nonfinite, encode_nonfinite
from benchbase.record.schema import EVAL_EXTRAS_KEY, EVAL_OWN_KEYS, NONFINITE_KEY

_TORN = "torn last line ignored (the writer stopped mid-line)"


class EventLog:
    """Appends events of one process (``rank`` is the writer's rank; the supervisor passes ``None``)."""

    def __init__(self, path: Path, rank: int | None, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.rank = rank
        self._clock = clock
        self._fd: int | None = None
        try:
            # Never through a symlink nor into a file with other names (see benchbase.record.files): settling a
            # record someone sent appends here, and that line must land in the record and nowhere else.
            self._fd = open_record_for_append(self.path)
            self._end_torn_line()
        except OSError as exc:
            self.close()
            raise disk_space.unwritable(exc, self.path) from None

    def _end_torn_line(self) -> None:
        """After a crash the file may end mid-line; close that line so the next event is not glued onto it."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            self._write(b"\n")

    def emit(self, key: str, value: Any = None, *, step: int | None = None, samples: int | None = None,
             **metadata: Any) -> dict[str, Any]:
        """Append one event and return it as a reader will see it (tensors and numpy scalars made plain numbers)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"event key must be a non-empty string, got {key!r}")
        event = {
            "time_ms": self._clock() * 1000.0,
            "key": key,
            "value": _plain(value, key, "value"),
            "rank": self.rank,
            "step": None if step is None else int(step),
            "samples": None if samples is None else int(samples),
            "metadata": {name: _plain(item, key, name) for name, item in metadata.items()},
        }
        line = json.dumps(encode_nonfinite(event), ensure_ascii=False, allow_nan=False) + "\n"
        self._write(line.encode("utf-8"))
        return event

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            raise ValueError(f"event log {self.path} is closed")
        try:
            written = os.write(self._fd, data)
            # A regular-file append is complete in one call; finishing a short one (disk full, signal) keeps what
            # we can.
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            raise disk_space.unwritable(exc, self.path) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain(obj: Any, key: str, where: str) -> Any:
    """Turn a value into JSON types. Tensors and numpy values are duck-typed through ``tolist()`` so this module
    imports neither library."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, Mapping):
        plain: dict[str, Any] = {}
        for name, item in obj.items():
            if not isinstance(name, str):
                raise TypeError(f"event {key!r}: {where} has a non-string key {name!r}; JSON objects need string keys")
            plain[name] = _plain(item, key, f"{where}.{name}")
        return plain
    if isinstance(obj, (list, tuple)):
        return [_plain(item, key, where) for item in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return _plain(tolist(), key, where)
    raise TypeError(
        f"event {key!r}: {where} of type {type(obj).__name__} cannot be written as JSON; "
        "pass numbers, strings, lists or dicts"
    )


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every readable event of the file, in order; damaged lines are skipped (see :func:`read_events_checked`)."""
    return read_events_checked(path)[0]


def read_events_checked(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Events plus one line per problem (a torn last line, a line that is not an event object, one nested too deep,
    then each event whose ``nonfinite`` markers point nowhere): :func:`event_lines`, held whole. A reader of a long
    run's log that needs only some of it iterates :func:`event_lines` instead."""
    events: list[dict[str, Any]] = []
    problems: list[str] = []
    markers: list[str] = []
    for line in event_lines(path):
        if line.event is not None:
            events.append(line.event)
            if line.problem is not None:
                markers.append(line.problem)
        elif line.problem is not None:
            problems.append(line.problem)
    return events, problems + markers


def read_events_of(path: Path, keys: Collection[str]) -> list[dict[str, Any]]:
    """The readable events of the kinds ``keys``, in order (as :func:`read_events` reads them): what a reader of a
    long log keeps when it needs a few kinds of event out of a million steps."""
    return [line.event for line in event_lines(path) if line.event is not None and line.event["key"] in keys]


class EventLine(NamedTuple):
    """One non-blank line of the log: its event (``None`` for a line that holds none) and its problem, if any (an
    event keeps its place with a problem when its ``nonfinite`` markers point nowhere). A tuple, not a frozen
    dataclass: a reader makes one per line of a million-event log, or of thousands of logs, and a frozen dataclass
    took three times as long to make."""

    number: int
    event: dict[str, Any] | None
    problem: str | None = None


def event_lines(path: Path) -> Iterator[EventLine]:
    """Each non-blank line of ``events.jsonl`` parsed on its own, in order, numbered from 1 as an editor counts.

    The file is read through :func:`benchbase.record.files.record_lines` (no symlink, no FIFO, bounded in size and
    lines, numbers and depth bounded) a chunk at a time, so a million-event log is never held: a reader keeps what
    it needs. Raises :class:`RecordMissing` or :class:`RecordError` before the first line for a file that cannot be
    read at all; a damaged line is yielded with its problem, and so is a torn last line (the writer stopped
    mid-line). Each line is one event by the format, so each is parsed alone: an object split over two lines is two
    damaged lines, never one event.
    """
    path = as_path(path)
    try:
        with record_lines(path) as lines:
            for number, (line, terminated) in enumerate(lines, 1):
                if line.strip():
                    yield _event_line(path, number, line, terminated)
    except RecordMissing:
        raise RecordMissing(f"{path} is missing", "the run wrote no events; check logs/rank0.log") from None


def _event_line(path: Path, number: int, line: str, terminated: bool) -> EventLine:
    try:
        item, unreadable = loads_bounded(line), None
    except json.JSONDecodeError:
        item, unreadable = None, "not JSON"
    except JsonTooDeep:
        item, unreadable = None, "nested too deeply to be an event"
    if terminated and type(item) is dict and type(item.get("key")) is str and NONFINITE_KEY not in item:
        return EventLine(number, item)  # nearly every line: what follows, for an event that needs nothing more
    if not terminated and (unreadable or not _is_event(item)):
        return EventLine(number, None, f"{path} line {number}: {_TORN}")
    if unreadable:
        return EventLine(number, None, f"{path} line {number}: {unreadable}, skipped")
    if not _is_event(item):
        return EventLine(number, None, f"{path} line {number}: not an event object with a 'key', skipped")
    if NONFINITE_KEY in item:
        try:
            decode_nonfinite(item)
        except ValueError as exc:
            return EventLine(number, item, f"{path}: event {item['key']!r} at {item.get('time_ms')}: {exc}")
    return EventLine(number, item)


def _is_event(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("key"), str)


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
        items = ((key, value) for key, value in metadata.items() if key not in EVAL_OWN_KEYS)
    return {
        str(key): value
        for key, value in items
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
