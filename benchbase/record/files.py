"""The one way benchbase opens a file of a run record, for every command that reads or settles one.

A record is untrusted input: vendors send run folders, and the buyer's ``report``, ``export mlperf`` and ``run
--resume`` read them. Whatever a record holds must cost one line naming the file, never a hang, the machine's memory,
a traceback or a write outside the record. So every record file is opened here, and only here:

* **Opening** (:func:`open_record`): ``O_NOFOLLOW | O_NONBLOCK``, then ``fstat`` on the open descriptor. A symlink
  at the file's own name is refused (a record that points at ``/dev/zero``, or at a user's file for a later append
  to follow); so is anything that is not a regular file (a FIFO would block a read forever, a device never ends, a
  directory is no file). The check is on the descriptor that is then read, so nothing can be swapped in between.
  Folders above the file may be symlinks (``reports/runs`` is often one): they are the user's layout, not the record's.
* **Size** (:data:`MAX_BYTES`): each kind of file has a bound far above anything a real run writes; a larger file
  is refused before it is read whole.
* **Depth, count and magnitude** (:func:`parse_json`, :func:`split_lines`, :func:`bounded_float`): JSON nested more
  than :data:`MAX_DEPTH` levels is refused before it is parsed (the walkers of a record are recursive); a line-based
  file holds at most :data:`MAX_LINES` lines; an integer beyond 2**53 (past which a float cannot tell it from its
  neighbours) is read as a float, a float beyond :data:`LARGEST_NUMBER` as infinite (which every reader treats as no
  measurement, like a NaN) and a subnormal one as 0 (its logarithm and reciprocal overflow the arithmetic downstream).
* **CSV** (:func:`csv_cells`): one line at a time, a line longer than :data:`MAX_CSV_LINE` is a bad row; so the csv
  module never meets a field beyond its own limit (which it reports by raising) and its process-wide limit is left
  as it is.
* **Writing into a record** (:func:`open_record_for_append`, :func:`open_lock_file`): settling an orphaned run
  appends to ``events.jsonl`` and a resume writes ``run.lock``; those opens never follow a symlink and refuse a file
  with more than one name (a hard link), since a write through it would change a file outside the record. Whole
  files (``summary.json``) are replaced by :mod:`benchbase.record.atomic`'s rename, which replaces a link and never
  writes through it.

Hard links are accepted for reading: backups made with ``cp -al`` or rsnapshot share every file between snapshots,
and reading a file through one of its names shows nothing that another name would not.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import math
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchbase.errors import BenchbaseError
from benchbase.record.schema import (
    CONFIG_FILE,
    CPU_LOAD_FILE,
    ENV_FILE,
    EVENTS_FILE,
    LOCK_FILE,
    MANIFEST_FILE,
    NODE_FILE,
    SUMMARY_FILE,
    TELEMETRY_FILE,
)

_KIB, _MIB = 1 << 10, 1 << 20
#: The most bytes read of each kind of record file. A summary or a config is a few kilobytes and an ``env.json``
#: some tens; the line-based files grow with the run, and these bounds hold weeks of a run at the default intervals.
MAX_BYTES: dict[str, int] = {
    SUMMARY_FILE: 1 * _MIB,
    CONFIG_FILE: 1 * _MIB,
    ENV_FILE: 4 * _MIB,
    NODE_FILE: 64 * _KIB,
    LOCK_FILE: 64 * _KIB,
    MANIFEST_FILE: 4 * _MIB,
    EVENTS_FILE: 256 * _MIB,
    TELEMETRY_FILE: 512 * _MIB,
    CPU_LOAD_FILE: 128 * _MIB,
}
#: A file of the record this table does not name (a gathered node's file keeps its kind's name).
DEFAULT_MAX_BYTES = 1 * _MIB
#: The most lines of a line-based file that are parsed: a bound on the objects built, which the byte bound alone
#: does not give (a quarter of a gigabyte of ``{}`` lines is tens of millions of dicts).
MAX_LINES: dict[str, int] = {EVENTS_FILE: 2_000_000, TELEMETRY_FILE: 4_000_000, CPU_LOAD_FILE: 2_000_000}
#: Nesting of JSON arrays and objects. benchbase writes at most five levels; Python's parser and the record's
#: recursive walkers would end in a RecursionError near a thousand.
MAX_DEPTH = 64
#: A CSV line of the telemetry is some hundreds of characters; this is far below the csv module's field limit.
MAX_CSV_LINE = 4096
#: Numbers beyond this magnitude are read as infinite: the largest real value, a device's peak FLOP/s, is near
#: 1e16, and arithmetic on a 1e308 (the sum of two, an axis's range) overflows instead of giving a number.
LARGEST_NUMBER = 1e30
#: Integers beyond this magnitude are read as floats: no count of a record comes near it, and past it a float (what
#: JavaScript, and every mean, makes of it) can no longer tell it from its neighbours.
LARGEST_INT = 2**53
_INT_DIGITS = len(str(LARGEST_INT))

_DAMAGED = "the record is damaged; delete it or run again"
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class RecordError(BenchbaseError):
    """A run record that is missing, truncated or of the wrong shape; the message names the file and what is wrong."""


class RecordMissing(RecordError):
    """The record file does not exist: for many readers an ordinary case (no telemetry, an older record)."""


def as_path(path: Path | str) -> Path:
    """``path`` as a :class:`Path`, the same object when it is one: ``Path(path)`` parses a path again even then,
    and a report reads three files of each of thousands of runs through several of these functions."""
    return path if isinstance(path, Path) else Path(path)


def max_bytes(path: Path) -> int:
    """The size bound of the record file at ``path``, by its name (:data:`MAX_BYTES`)."""
    return MAX_BYTES.get(as_path(path).name, DEFAULT_MAX_BYTES)


def open_record(path: Path) -> int:
    """A read-only descriptor of the regular file at ``path``, never through a symlink at its name; the caller
    closes it. Raises :class:`RecordMissing` or :class:`RecordError` in one line."""
    path = as_path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _open_error(path, exc) from None
    try:
        _check_regular(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_record_bytes(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a record file, refused beyond ``limit`` (default: its kind's :data:`MAX_BYTES`)."""
    path = as_path(path)
    limit = max_bytes(path) if limit is None else limit
    fd = open_record(path)
    try:
        if os.fstat(fd).st_size > limit:
            raise _too_large(path, limit)
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(_MIB, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # the file grew while it was read
                raise _too_large(path, limit)
    except OSError as exc:
        raise RecordError(f"cannot read {path}: {exc.strerror or exc}", "check the file's permissions") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def digest_record_file(path: Path) -> tuple[int, str]:
    """The size and sha256 (hex) of a record file of any size, read a chunk at a time (a checkpoint may be
    gigabytes): what a manifest says of it. Same opening rules as every read; one line on failure."""
    path = as_path(path)
    fd = open_record(path)
    digest = hashlib.sha256()
    size = 0
    try:
        while chunk := os.read(fd, _MIB):
            digest.update(chunk)
            size += len(chunk)
    except OSError as exc:
        raise RecordError(f"cannot read {path}: {exc.strerror or exc}", "check the file's permissions") from None
    finally:
        os.close(fd)
    return size, digest.hexdigest()


def read_record_text(path: Path, limit: int | None = None, *, strict: bool = True) -> str:
    """The UTF-8 text of a record file; ``strict=False`` replaces undecodable bytes (append-only logs, where one
    torn multi-byte character must not cost the whole file)."""
    data = read_record_bytes(path, limit)
    try:
        return data.decode("utf-8", errors="strict" if strict else "replace")
    except UnicodeDecodeError as exc:
        raise RecordError(f"{path} is not UTF-8 text ({exc.reason})", _DAMAGED) from None


def read_json_record(path: Path) -> Any:
    """A JSON record file (``summary.json``, ``env.json``, ``run.lock``...), bounded in size, depth and numbers."""
    path = as_path(path)
    return parse_json(read_record_text(path), str(path))


def read_yaml_record(path: Path) -> Any:
    """A YAML record file (``config.yaml``), through the bounded loader every YAML of benchbase goes through."""
    from benchbase.record.bounded_yaml import YamlTooLarge, safe_load

    path = as_path(path)
    text = read_record_text(path)
    try:
        return safe_load(text)
    except YamlTooLarge as exc:
        raise RecordError(f"{path} {exc.problem}", _DAMAGED) from None
    except Exception as exc:  # noqa: BLE001 - yaml.YAMLError and its constructors' own errors, all bad input
        raise RecordError(f"{path} is not valid YAML (truncated or edited?): {type(exc).__name__}", _DAMAGED) from None


class JsonTooDeep(ValueError):
    """JSON nested beyond :data:`MAX_DEPTH`."""


def parse_json(text: str, where: str) -> Any:
    """``text`` as JSON, its depth checked first and its numbers bounded; raises :class:`RecordError` naming
    ``where``."""
    try:
        return loads_bounded(text)
    except JsonTooDeep:
        raise RecordError(f"{where} is nested more than {MAX_DEPTH} levels deep: damaged or hand-edited",
                          _DAMAGED) from None
    except json.JSONDecodeError as exc:
        raise RecordError(
            f"{where} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): truncated or hand-edited",
            _DAMAGED,
        ) from None


def loads_bounded(text: str) -> Any:
    """``json.loads`` after the depth check (raises :class:`JsonTooDeep`), with :func:`bounded_int` and
    :func:`bounded_float` for its numbers."""
    # Nesting needs an opening bracket per level, so a text with no more of them than the bound (every summary)
    # skips the scan of its strings: a report reads thousands of summaries.
    if text.count("[") + text.count("{") > MAX_DEPTH and json_depth(text) > MAX_DEPTH:
        raise JsonTooDeep(f"nested more than {MAX_DEPTH} levels")
    if text.startswith("\ufeff"):  # json.loads names a byte-order mark, the decoders alone would not
        return json.loads(text, parse_int=bounded_int, parse_float=bounded_float, parse_constant=float)
    return (_BOUNDING if _may_hold_out_of_bounds(text) else _PLAIN).decode(text)


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text``, brackets inside strings not counted. Measured on the
    text, so no parser ever recurses into a document deeper than it may be."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                break
    return deepest


def bounded_int(text: str) -> int | float:
    """An integer of a record; beyond :data:`LARGEST_INT` it is a float (and Python's 4300-digit refusal is never
    met)."""
    if len(text.lstrip("-")) > _INT_DIGITS:
        return bounded_float(text)
    value = int(text)
    return value if abs(value) <= LARGEST_INT else bounded_float(text)


def bounded_float(text: str | float) -> float:
    """A float of a record: beyond :data:`LARGEST_NUMBER` infinite, subnormal 0, NaN as it is."""
    value = float(text)
    if abs(value) >= LARGEST_NUMBER:
        return math.copysign(math.inf, value)
    if value != 0.0 and abs(value) < sys.float_info.min:
        return 0.0
    return value


#: What ``json.loads(text, parse_int=..., ...)`` builds anew for every call, built once: a long log, or a report over
#: thousands of runs, decodes a line at a time.
_BOUNDING = json.JSONDecoder(parse_int=bounded_int, parse_float=bounded_float, parse_constant=float)
#: Where no number can be out of bounds, the plain decoder reads every number as the bounding one would, without a
#: Python call per number (most of decoding an event line). A number beyond :data:`LARGEST_INT` or
#: :data:`LARGEST_NUMBER`, or subnormal, needs an integer part of 16 digits or more, 16 zeros after its point, or an
#: exponent of 10 or more: without them a number lies between 1e-25 and 1e24, or is an integer below 1e15. A text
#: with none of the three (this also looks inside strings, which only sends more texts the careful way) holds none;
#: the 16 or 17 digits of a double's fraction (``0.9101188856062772``) are no sign of one.
_PLAIN = json.JSONDecoder()
#: The text's ASCII in five classes, so the three signs above are substring tests (a regular expression tried at
#: every character cost four times the decoding of a summary): a digit is ``0``, a point ``d``, an ``e`` or ``E``
#: ``e``, a sign ``s``, anything else a space. A JSON number starts after a space, a bracket, a comma, a colon or its
#: minus sign, all of them ASCII, so its integer part is ``0``s after a space or ``s``, never after ``d`` (a
#: fraction); an exponent of two or more digits reads ``e00`` or ``es00``.
_NUMBER_SHAPE = str.maketrans({
    **{code: " " for code in range(128)},
    **{ord(digit): "0" for digit in "0123456789"},
    ord("."): "d", ord("e"): "e", ord("E"): "e", ord("+"): "s", ord("-"): "s",
})
_SIXTEEN = "0" * 16


def _may_hold_out_of_bounds(text: str) -> bool:
    """Whether ``text`` shows any of the three signs of a number out of bounds (see :data:`_PLAIN`)."""
    if "." + _SIXTEEN in text:
        return True
    shape = text.translate(_NUMBER_SHAPE)
    return (shape.startswith(_SIXTEEN) or " " + _SIXTEEN in shape or "s" + _SIXTEEN in shape
            or "e00" in shape or "es00" in shape)


def split_lines(text: str, path: Path) -> tuple[list[str], str]:
    """The complete lines of a line-based record and its last, unterminated part (``""`` after a final newline).

    Raises :class:`RecordError` past its kind's :data:`MAX_LINES`."""
    limit = MAX_LINES.get(as_path(path).name)
    if limit is not None and text.count("\n") > limit:
        raise RecordError(f"{path} has more than {limit} lines, more than any run writes", _DAMAGED)
    lines = text.split("\n")
    tail = lines.pop()
    return lines, tail


@contextmanager
def record_lines(path: Path) -> Iterator[Iterator[tuple[str, bool]]]:
    """The lines of a line-based record file, read a chunk at a time: ``(line, terminated)`` in order, the last one
    unterminated where the file does not end in a newline (a torn line, or ``""`` is never yielded for it).

    A long run's log is hundreds of megabytes, so it is never held whole. The file is opened once and checked as
    every read is (:func:`open_record`); a first pass counts its lines against its kind's :data:`MAX_LINES` and its
    bytes against :data:`MAX_BYTES`, raising before any line is yielded, and the second pass yields the lines of
    exactly the bytes counted, so a run still appending cannot add lines past the check. Each line is decoded on
    its own with undecodable bytes replaced, as :func:`read_record_text` ``strict=False`` decodes the whole text (a
    newline byte never falls inside a UTF-8 character, so the result is the same)."""
    path = as_path(path)
    limit = max_bytes(path)
    fd = open_record(path)
    try:
        size = _counted_size(fd, path, limit)
        yield _lines(fd, path, size)
    finally:
        os.close(fd)


def _counted_size(fd: int, path: Path, limit: int) -> int:
    """The bytes of the file now, checked against ``limit`` and its kind's line bound."""
    if os.fstat(fd).st_size > limit:
        raise _too_large(path, limit)
    lines_limit = MAX_LINES.get(path.name)
    size = lines = 0
    try:
        while chunk := os.pread(fd, min(_MIB, limit + 1 - size), size):
            size += len(chunk)
            lines += chunk.count(b"\n")
            if size > limit:  # the file grew while it was read
                raise _too_large(path, limit)
    except OSError as exc:
        raise RecordError(f"cannot read {path}: {exc.strerror or exc}", "check the file's permissions") from None
    if lines_limit is not None and lines > lines_limit:
        raise RecordError(f"{path} has more than {lines_limit} lines, more than any run writes", _DAMAGED)
    return size


def _lines(fd: int, path: Path, size: int) -> Iterator[tuple[str, bool]]:
    offset, carry = 0, b""
    while offset < size:
        try:
            chunk = os.pread(fd, min(_MIB, size - offset), offset)
        except OSError as exc:
            raise RecordError(f"cannot read {path}: {exc.strerror or exc}", "check the file's permissions") from None
        if not chunk:
            break
        offset += len(chunk)
        pieces = (carry + chunk).split(b"\n")
        carry = pieces.pop()
        for piece in pieces:
            yield piece.decode("utf-8", errors="replace"), True
    if carry:
        yield carry.decode("utf-8", errors="replace"), False


def csv_cells(lines: Iterable[str]) -> Iterator[list[str] | None]:
    """The cells of each CSV line, or ``None`` for a line that is not one (too long, an unclosed quote...).

    Each line is parsed on its own, so a quote opened in one row cannot swallow the rows after it."""
    for line in lines:
        if len(line) > MAX_CSV_LINE:
            yield None
            continue
        if '"' not in line and line.isprintable() and line:
            yield line.split(",")  # no quote, no control character: the csv module would split it the same
            continue
        try:
            yield next(csv.reader((line,)), [])
        except csv.Error:
            yield None


# ---------------------------------------------------------------------------------------------------------------
# Writing into a record
# ---------------------------------------------------------------------------------------------------------------


def open_record_for_append(path: Path) -> int:
    """A descriptor appending to the record file at ``path`` (created if missing), readable for its last byte.

    Never through a symlink, never to a non-regular file nor to one with other names: what is written lands in the
    record and nowhere else. Raises :class:`RecordError`, or ``OSError`` for what the disk refuses."""
    path = as_path(path)
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    return _open_for_writing(path, flags)


def open_lock_file(path: Path, writable: bool) -> int:
    """A descriptor of ``run.lock`` to hold its ``flock`` on: created when ``writable``, never through a symlink,
    never a non-regular or multiply-linked file (a writable one gets the holder written into it)."""
    path = as_path(path)
    if not writable:
        return open_record(path)
    return _open_for_writing(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)


def _open_for_writing(path: Path, flags: int) -> int:
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise _open_error(path, exc) from None
        raise
    try:
        info = _check_regular(fd, path)
        if info.st_nlink > 1:
            raise RecordError(
                f"{path} has {info.st_nlink} names (hard links); writing it would change a file outside the record",
                "replace it by a copy of its own (cp it aside and back), or leave the record as it is",
            )
    except BaseException:
        os.close(fd)
        raise
    os.set_blocking(fd, True)
    return fd


def _check_regular(fd: int, path: Path) -> os.stat_result:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        raise RecordError(f"{path} is {kind}, not a record file", "replace it by the file the run wrote, or remove it")
    return info


def _open_error(path: Path, exc: OSError) -> RecordError:
    if exc.errno == errno.ENOENT:
        return RecordMissing(f"{path} is missing", _DAMAGED)
    if exc.errno == errno.ELOOP:
        return RecordError(
            f"{path} is a symlink; a record file is never read or written through one",
            "replace the link by the file it points to, or remove it",
        )
    if exc.errno == errno.ENXIO:  # opening a FIFO for writing with no reader, or a socket
        return RecordError(f"{path} is not a regular file", "replace it by the file the run wrote, or remove it")
    return RecordError(f"cannot open {path}: {exc.strerror or exc}", "check the file's permissions")


def _too_large(path: Path, limit: int) -> RecordError:
    return RecordError(
        f"{path} is larger than {_size(limit)}, more than any run writes: not a record file",
        "check that the folder holds what benchbase wrote",
    )


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= _MIB else f"{limit >> 10} KiB"
