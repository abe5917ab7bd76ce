"""Writing a report (or an export) to ``--output``: whatever the path is, the user reads one line, never a traceback,
and no record is ever written.

A read command writes nothing a record names. So the output is refused when it lies in a run folder or in a folder of
runs it reads, when it is one of the files it reads (compared by device and inode, so a hard link is found under any
name), when it has other names (a hard link, whose other name may be a record of a folder not read this time), and
when its name is a symlink (the file is opened with ``O_NOFOLLOW``: a link can point into a record). The file is
then written in place, as a shell redirection would, on the descriptor those checks were made on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from benchbase.errors import BenchbaseError
from benchbase.record.schema import LOCK_FILE, RECORD_FILES

#: How many levels below a path given to the command are looked at for record files (a folder of runs, a run, its
#: ``nodes/<k>/``), and how many entries at most: the guard must not take longer than the report.
_SCAN_DEPTH = 3
_SCAN_ENTRIES = 200_000
_OUTSIDE = "write it outside the folders of runs, e.g. under reports/"


def refuse_output_in_records(output: Path, read: Iterable[Path]) -> None:
    """The report never writes into a run folder (it would replace or add to a record), into a folder of runs it
    reads (the next report would list the file as a broken record), nor onto a file it reads under another name."""
    read = [Path(path) for path in read]
    folders = [output.resolve().parent, *output.resolve().parent.parents]
    markers = (*RECORD_FILES, LOCK_FILE)
    run = next((folder for folder in folders if any((folder / name).exists() for name in markers)), None)
    runs = next((path for path in read if path.resolve() in folders), None)
    if run is not None or runs is not None:
        where = f"run folder {run}" if run is not None else f"runs folder {runs}"
        raise BenchbaseError(f"--output {output} is inside the {where}; the report never writes into run records",
                             _OUTSIDE)
    try:
        info = os.lstat(output)
    except OSError:
        return  # a new file: nothing it could be
    _refuse_link(output, info)
    if (info.st_dev, info.st_ino) in set(_identities(read)):
        raise BenchbaseError(f"--output {output} is a file of the records it reads (the same file under another "
                             "name); the report never writes into run records", _OUTSIDE)


def write_output(path: Path, text: str | Iterable[str]) -> None:
    """Write ``text`` (or its pieces, in order) to ``path``; a folder, a missing parent folder, a link or an
    unwritable path is one line."""
    path = Path(path)
    if path.is_dir():
        raise BenchbaseError(f"--output {path} is a folder", f"name a file, e.g. --output {path / 'report.md'}")
    if not path.parent.is_dir():
        raise BenchbaseError(
            f"the folder of --output {path} does not exist", f"create {path.parent} first or choose another path"
        )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            _refuse_link(path, os.lstat(path))
        raise _unwritable(path, exc) from None
    try:
        info = os.fstat(fd)
        _refuse_link(path, info)
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISCHR(info.st_mode)):
            raise BenchbaseError(f"--output {path} is not a regular file", "name a file for --output")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "w", encoding="utf-8", closefd=True) as handle:
            fd = -1
            if stat.S_ISREG(info.st_mode):
                handle.truncate(0)
            handle.writelines([text] if isinstance(text, str) else text)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    finally:
        if fd >= 0:
            os.close(fd)


def _refuse_link(path: Path, info: os.stat_result) -> None:
    """A symlink's target or a hard link's other names may be records: the output must be a file of its own."""
    if stat.S_ISLNK(info.st_mode):
        raise BenchbaseError(f"--output {path} is a symlink; the output is never written through one",
                             "name the file itself, or a new file")
    if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        raise BenchbaseError(
            f"--output {path} has {info.st_nlink} names (hard links); writing it would change the others too, "
            "which may be records", "name a new file, or remove the other names first",
        )


def _identities(paths: Iterable[Path]) -> Iterator[tuple[int, int]]:
    """``(st_dev, st_ino)`` of the regular files under ``paths``, a few levels deep and bounded in number."""
    budget = [_SCAN_ENTRIES]
    for path in paths:
        with contextlib.suppress(OSError):
            info = os.stat(path)
            if stat.S_ISREG(info.st_mode):
                yield info.st_dev, info.st_ino
            elif stat.S_ISDIR(info.st_mode):
                yield from _scan(path, _SCAN_DEPTH, budget)


def _scan(folder: Path, depth: int, budget: list[int]) -> Iterator[tuple[int, int]]:
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            budget[0] -= 1
            if budget[0] < 0:
                return
            if entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                yield info.st_dev, info.st_ino
            elif depth > 1 and entry.is_dir(follow_symlinks=False):
                yield from _scan(Path(entry.path), depth - 1, budget)


def _unwritable(path: Path, exc: OSError) -> BenchbaseError:
    return BenchbaseError(f"cannot write --output {path}: {exc.strerror or exc}", "choose a writable path for --output")
