"""``manifest.json``: the size and sha256 of every file of a finished record, written as the run's last act.

A buyer receives run folders by copy, archive or upload, and a copy can be truncated, a file can be damaged on disk,
and a file can be edited by hand after the run. The manifest lets ``benchbase verify`` name each of these: a file
that is shorter, changed, missing or added since the run ended. It proves nothing against whoever rewrites the
manifest too (docs/records.md, "What verify guarantees"); it makes every accident and every careless edit visible.

Written by the supervisor after the final ``summary.json`` (and removed when a run is resumed, since the record
is about to change); ``run.lock`` and ``.reserve`` are the machinery of a record being written, not the record, and
are not listed. Records from before manifests have none, which verify says instead of failing them.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from benchbase.record.atomic import atomic_write_json
from benchbase.record.files import RecordError, RecordMissing, digest_record_file, read_json_record
from benchbase.record.schema import LOCK_FILE, MANIFEST_FILE, RESERVE_FILE

MANIFEST_SCHEMA = 1
#: Files of a run folder that are not part of the record: the lock and the disk reserve of a run being written.
UNLISTED = frozenset({LOCK_FILE, RESERVE_FILE, MANIFEST_FILE})
#: How deep a record's folders go (``nodes/<k>/telemetry.csv``, ``checkpoint/state.pt``), with room to spare: a
#: deeper tree is no record of ours, and walking it would be unbounded work.
MAX_DEPTH = 8
#: The largest file a manifest check reads: a checkpoint of a multi-billion-parameter model with its optimizer
#: state is tens of GiB; a listed file beyond this is named, not read (a forged manifest must not cost hours).
MAX_HASHED_BYTES = 64 << 30
_SHA256 = re.compile(r"[0-9a-f]{64}")


def manifest_path(run_folder: Path) -> Path:
    return Path(run_folder) / MANIFEST_FILE


def record_entries(run_folder: Path) -> tuple[list[str], list[str]]:
    """The record's regular files as paths relative to the folder (``/``-separated, sorted), and the entries that are
    no regular file (a symlink, a FIFO: never written by a run) as the second list. Links are never followed."""
    files: list[str] = []
    strange: list[str] = []
    root = Path(run_folder)

    def walk(folder: Path, prefix: tuple[str, ...]) -> None:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda item: item.name):
                relative = (*prefix, entry.name)
                if not prefix and entry.name in UNLISTED:
                    continue
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode) and len(relative) < MAX_DEPTH:
                    walk(Path(entry.path), relative)
                elif stat.S_ISREG(mode):
                    files.append("/".join(relative))
                else:
                    strange.append("/".join(relative))

    walk(root, ())
    return files, strange


def write_manifest(run_folder: Path) -> None:
    """List every regular file of the record with its size and sha256, atomically."""
    files, _ = record_entries(run_folder)
    listed: dict[str, dict[str, Any]] = {}
    for relative in files:
        size, digest = digest_record_file(Path(run_folder) / relative)
        listed[relative] = {"size": size, "sha256": digest}
    atomic_write_json(manifest_path(run_folder), {"schema": MANIFEST_SCHEMA, "files": listed})


def remove_manifest(run_folder: Path) -> None:
    """Before a record changes again (``--resume``): a stale manifest would call the new files tampered with."""
    with contextlib.suppress(FileNotFoundError):
        manifest_path(run_folder).unlink()


class ManifestMissing(RecordError):
    """The record has no manifest: written before manifests existed, or its supervisor never finished it."""


def check_manifest(run_folder: Path) -> list[str]:
    """What differs between the record on disk and its manifest, one line each; empty when every file matches.
    Raises :class:`ManifestMissing` when there is none, :class:`RecordError` when it cannot be read."""
    root = Path(run_folder)
    try:
        manifest = read_json_record(manifest_path(root))
    except RecordMissing:
        raise ManifestMissing(
            f"{MANIFEST_FILE} missing", "a record from before manifests, or one whose run never finished"
        ) from None
    listed = _listed(manifest)
    files, strange = record_entries(root)
    problems = [f"{name} is not a regular file (a record holds none)" for name in strange]
    for name in sorted(set(files) - set(listed)):
        problems.append(f"{name} is not in the manifest (added after the run ended)")
    for name, (size, digest) in listed.items():
        if name not in files:
            problems.append(f"{name} is in the manifest but missing (an incomplete copy?)")
            continue
        actual_size = (root / name).stat(follow_symlinks=False).st_size
        if actual_size != size:
            # Told by the size alone, so a file swollen to a terabyte is never read.
            problems.append(f"{name} is {actual_size} bytes, the manifest says {size} (truncated or changed)")
        elif size > MAX_HASHED_BYTES:
            problems.append(f"{name} is {size} bytes, more than any record file ({MAX_HASHED_BYTES} bytes): not read")
        elif digest_record_file(root / name)[1] != digest:
            problems.append(f"{name} changed since the run ended (its sha256 differs from the manifest's)")
    return problems


def _listed(manifest: Any) -> dict[str, tuple[int, str]]:
    """The manifest's entries, checked: every path stays inside the record (a manifest must never make verify read
    a file elsewhere), every size is a count and every digest a sha256."""
    damaged = "the manifest is damaged; ask for the record again"
    if not isinstance(manifest, Mapping) or manifest.get("schema") != MANIFEST_SCHEMA:
        raise RecordError(f"{MANIFEST_FILE} is not a schema-{MANIFEST_SCHEMA} manifest", damaged)
    files = manifest.get("files")
    if not isinstance(files, Mapping):
        raise RecordError(f"{MANIFEST_FILE} has no 'files' object", damaged)
    listed: dict[str, tuple[int, str]] = {}
    for name, entry in files.items():
        parts = PurePosixPath(name).parts
        if (not parts or PurePosixPath(name).is_absolute() or any(part in ("", ".", "..") for part in parts)
                or "\\" in name or len(parts) > MAX_DEPTH):
            raise RecordError(f"{MANIFEST_FILE} lists a path outside the record ({name!r})", damaged)
        size = entry.get("size") if isinstance(entry, Mapping) else None
        digest = entry.get("sha256") if isinstance(entry, Mapping) else None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(digest, str) \
                or not _SHA256.fullmatch(digest):
            raise RecordError(f"{MANIFEST_FILE}: the entry of {name!r} is not a size and a sha256", damaged)
        listed[name] = (size, digest)
    return listed
