"""Cache entries that are published whole and checked on every hit.

A cache entry is built aside and published atomically, so a reader sees either nothing or the whole entry. What
happens to it later is outside our control: a disk fills, a user truncates or edits a file, a copy is cut short. So
every entry records, at build time, each file's size and a digest of its content (:func:`file_record`), and a cache
hit checks them (:func:`damage`) before anything uses the file; a damaged entry is rebuilt, with one line saying so
(:func:`note_rebuild`), never passed on to fail later (a truncated window file used to end a run with "mmap length is
greater than file size").

The digest is the whole file's sha256 up to :data:`FULL_DIGEST_BYTES` and a sampled one beyond (the size, then
:data:`SAMPLES` blocks of :data:`SAMPLE_BYTES` evenly spaced from the first byte to the last). Measured on this 2-core
VM under load: sha256 reads 400-460 MB/s, so the official train windows (about 180 MB) would cost 0.4-0.5 s on every
run's preparation, where the 4 MiB sample costs 0.02 s. The sample catches what really happens to a cache (a
truncation or an extension, through the size; a damaged header; any overwritten stretch longer than 1/64 of the
file); a single flipped bit between two samples is left to the storage's own checksums.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchbase.record.atomic import atomic_write

FACTS_FILE = "facts.json"
#: The key of a folder's facts holding each file's :func:`file_record`.
FILES_KEY = "files"
#: Files up to this size are hashed whole on every hit (0.15 s at the rate measured above).
FULL_DIGEST_BYTES = 64 << 20
SAMPLES = 64
SAMPLE_BYTES = 64 << 10
#: A facts file is a few hundred bytes; one beyond this is damaged, and is not read whole.
MAX_FACTS_BYTES = 1 << 20


def content_digest(path: Path) -> str:
    """The digest of ``path`` described in the module docstring, labelled with how it was taken."""
    size = os.stat(path).st_size
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if size <= FULL_DIGEST_BYTES:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            return f"sha256:{digest.hexdigest()}"
        digest.update(f"{size}\n".encode())
        for index in range(SAMPLES):
            handle.seek((size - SAMPLE_BYTES) * index // (SAMPLES - 1))
            digest.update(handle.read(SAMPLE_BYTES))
    return f"sha256-sampled-{SAMPLES}x{SAMPLE_BYTES}:{digest.hexdigest()}"


def file_record(path: Path) -> dict[str, Any]:
    """What a cache hit checks a file against: its size and :func:`content_digest`."""
    return {"bytes": os.stat(path).st_size, "digest": content_digest(path)}


def damage(path: Path, record: Any) -> str | None:
    """Why ``path`` is not the file ``record`` (a :func:`file_record`) describes; ``None`` when it is."""
    if not (isinstance(record, Mapping) and isinstance(record.get("bytes"), int)
            and isinstance(record.get("digest"), str)):
        return f"no size and digest of {path.name} recorded (built by an older benchbase, or edited)"
    try:
        size = os.stat(path).st_size
        if size != record["bytes"]:
            return f"{path.name} has {size} bytes, {record['bytes']} when it was built"
        if content_digest(path) != record["digest"]:
            return f"{path.name} is not what was built (its digest differs)"
    except FileNotFoundError:
        return f"{path.name} is missing"
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror or exc})"
    return None


def read_facts(path: Path, required: Mapping[str, type | tuple[type, ...]]) -> dict[str, Any] | str:
    """The JSON object in ``path`` if it holds each ``required`` key with a value of its type; else why not."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FACTS_BYTES + 1)
    except FileNotFoundError:
        return f"{path.name} is missing"
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror or exc})"
    if len(raw) > MAX_FACTS_BYTES:
        return f"{path.name} is larger than {MAX_FACTS_BYTES >> 20} MiB"
    try:
        facts = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return f"{path.name} is not valid JSON"
    if not isinstance(facts, dict):
        return f"{path.name} holds a JSON {type(facts).__name__}, not an object"
    for key, kind in required.items():
        value = facts.get(key)
        if key not in facts:
            return f"{path.name} has no {key!r}"
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):  # JSON true is no count
            return f"{path.name} has no valid {key!r}"
    return facts


def note_rebuild(what: Path, reason: str) -> None:
    """The one line a user reads when a damaged cache entry is rebuilt (stderr, beside the progress lines). An entry
    made before entries recorded their sizes and digests reads as incomplete, and is rebuilt once."""
    print(f"cache {what} is damaged or incomplete ({reason}); rebuilding it", file=sys.stderr, flush=True)


def publish_folder(building: Path, target: Path, facts: dict[str, Any]) -> None:
    """Record every file of ``building`` in ``facts``, write ``facts.json`` last, then rename it to ``target``.

    Two processes preparing the same inputs at once both build; the second rename fails because the first one's
    folder is in place, which is success for both (the facts file proves the folder is complete).
    """
    facts[FILES_KEY] = {
        entry.name: file_record(Path(entry.path))
        for entry in sorted(os.scandir(building), key=lambda entry: entry.name)
        if entry.is_file() and entry.name != FACTS_FILE
    }
    atomic_write(building / FACTS_FILE, lambda handle: handle.write(json.dumps(facts, indent=1).encode()))
    try:
        os.replace(building, target)
    except OSError:
        if not (target / FACTS_FILE).is_file():
            raise


def open_folder(target: Path, required: Mapping[str, type | tuple[type, ...]]) -> dict[str, Any] | None:
    """The facts of the published folder ``target``, checked (each ``required`` key, every recorded file's size and
    digest); ``None`` if there is no folder, or if it was damaged, in which case it is removed and the rebuild
    announced."""
    if not target.is_dir():
        return None
    facts = read_facts(target / FACTS_FILE, {**required, FILES_KEY: dict})
    problem = facts if isinstance(facts, str) else next(
        (found for name, record in facts[FILES_KEY].items() if (found := damage(target / str(name), record))),
        None,
    )
    if problem is None:
        return facts  # type: ignore[return-value]
    note_rebuild(target, problem)
    discard_folder(target)
    return None


def discard_folder(target: Path) -> None:
    """Move a damaged folder out of the way (so the rebuilt one can be published under its name), then delete it;
    another process discarding it at the same moment is no error."""
    aside = target.with_name(f".{target.name}.damaged.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.replace(target, aside)
    shutil.rmtree(aside, ignore_errors=True)
