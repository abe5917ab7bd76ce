"""Which folders a ``benchbase verify`` of some paths verifies: run folders, or folders of them one level down,
the way ``benchbase report`` reads them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from benchbase.errors import BenchbaseError
from benchbase.record.schema import RECORD_FILES


def run_folders(paths: Iterable[Path]) -> list[Path]:
    """Every run folder under ``paths``, each once, in the order given (a folder's runs by name). A path that does
    not exist is the user's mistake and is refused; a folder holding no record at all is refused too, since a
    verification of nothing must not pass."""
    found: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        given = Path(given)
        if not given.exists():
            raise BenchbaseError(f"{given} does not exist", "pass run folders or a folder of them (e.g. reports/runs)")
        inside = [given] if is_run_folder(given) else _children(given)
        if not inside:
            raise BenchbaseError(f"{given} holds no run record", "pass run folders or a folder of them")
        for folder in inside:
            key = folder.resolve()
            if key not in seen:
                seen.add(key)
                found.append(folder)
    return found


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in RECORD_FILES)


def _children(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as exc:
        raise BenchbaseError(f"cannot list {folder} ({exc.strerror or exc})", "check its permissions") from None
    return [Path(entry.path) for entry in entries
            if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False) and is_run_folder(Path(entry.path))]
