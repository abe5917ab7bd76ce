"""Benchbase's one atomic writer: a file is replaced whole or not at all, whoever writes it.

A record, a cache or a checkpoint must survive its writer being killed at any instant, so every file is written to a
temp file beside it, fsynced, and renamed over the old one: a reader sees the old file or the new one, never part.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from benchbase.record.nonfinite import encode_nonfinite


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
