"""Full and read-only disks: checked before a run starts, named in one line when a write fails, and never the
reason a record is left half-written.

Three parts. Before a run creates anything, :func:`check_room` refuses an ``--out`` that is read-only or has less
than :data:`MIN_FREE_BYTES` free. Right after the run folder exists, :class:`Reserve` sets aside
:data:`RESERVE_BYTES` in it; when the disk fills later (another process, or the run's own checkpoints), the
supervisor (which looks at the free space every second, :func:`is_full`, and hears of every write that failed)
stops the ranks, gives the reserve back and has the room to write ``run_stop`` and a final ``summary.json`` that
says what happened. And every write error becomes one line naming the path (:func:`describe`), never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from benchbase.errors import BenchbaseError
from benchbase.record.schema import RESERVE_FILE

#: Free space ``--out`` must have before a run starts. A demo record takes about 40 KiB, but its checkpoints, the
#: logs of several ranks and a long run's telemetry grow with the run: below this a run would soon fail anyway.
MIN_FREE_BYTES = 32 * 2**20
#: Space set aside in every run folder so the record can be finished on a full disk: a final summary is a few KiB,
#: the supervisor's last event and the launcher's failure report a few more.
RESERVE_BYTES = 2**20
#: Below this many free bytes a filesystem counts as full when a rank has failed without saying why.
FULL_BYTES = 64 * 2**10

_WHAT_ERRNO = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


class RecordUnwritable(BenchbaseError):
    """A file of a run record (or of the prepared-data cache) could not be written; the message names it."""


#: Errors only a write meets: the message can say "writing".
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def describe(exc: OSError, path: Path | str | None = None) -> str:
    """``no space left on device writing <path>`` (``permission denied: <path>`` for an error a read can meet too):
    an OS error as the one line a user reads."""
    where = path if path is not None else exc.filename
    what = _WHAT_ERRNO.get(exc.errno or 0) or (exc.strerror or type(exc).__name__).lower()
    if where is None:
        return what
    return f"{what} writing {where}" if exc.errno in _WRITE_ERRNOS else f"{what}: {where}"


def unwritable(exc: OSError, path: Path | str | None = None, fix: str | None = None) -> RecordUnwritable:
    """The :class:`RecordUnwritable` error for a failed write of ``path``."""
    return RecordUnwritable(describe(exc, path), fix or _fix_for(exc))


def _fix_for(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free space on that disk or write elsewhere"
    return "make that folder writable or write elsewhere"


def _existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists: what a folder about to be created will be made on."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int | None:
    """Bytes this process may still write on the filesystem holding ``path`` (root may use the blocks a filesystem
    keeps back from other users); ``None`` when unknown."""
    try:
        stats = os.statvfs(_existing(path))
    except OSError:
        return None
    return (stats.f_bfree if os.geteuid() == 0 else stats.f_bavail) * stats.f_frsize


def check_room(folder: Path, what: str, fix: str, minimum: int = MIN_FREE_BYTES) -> None:
    """Refuse, before anything is created, a ``folder`` (``--out`` or a run to resume) that cannot take a run."""
    existing = _existing(folder)
    try:
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only or not os.access(existing, os.W_OK):
        why = "is on a read-only file system" if read_only else "is not writable"
        raise RecordUnwritable(f"{what} {folder} {why}", fix)
    free = free_bytes(existing)
    if free is not None and free < minimum:
        raise RecordUnwritable(
            f"only {free / 2**20:.1f} MiB free on the disk of {what} {folder}; a run needs at least "
            f"{minimum / 2**20:.0f} MiB",
            f"free space there, or {fix}",
        )


def is_full(path: Path) -> bool:
    """Whether the filesystem holding ``path`` has (almost) no room left."""
    free = free_bytes(path)
    return free is not None and free < FULL_BYTES


def full_disk_reason(path: Path) -> str:
    """Why a run whose disk (that of ``path``) filled was stopped, as its record says it."""
    return str(RecordUnwritable(f"no space left on device writing {path}", _fix_for(OSError(errno.ENOSPC, ""))))


class Reserve:
    """:data:`RESERVE_BYTES` allocated in a run folder, given back to finish the record (see the module)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, run_dir: Path) -> Reserve:
        """Allocate the reserve; a disk that cannot hold it cannot hold a run (raises :class:`RecordUnwritable`)."""
        path = Path(run_dir) / RESERVE_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                _allocate(fd, RESERVE_BYTES)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            raise unwritable(exc, run_dir, "free space on that disk or choose another --out") from None
        return cls(path)

    def release(self) -> None:
        """Give the space back (idempotent)."""
        with contextlib.suppress(OSError):
            self.path.unlink()


def _allocate(fd: int, size: int) -> None:
    """Really take the blocks: ``posix_fallocate`` where the filesystem has it, else written zeros (a sparse file
    would reserve nothing)."""
    try:
        os.posix_fallocate(fd, 0, size)
        return
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            raise
    block = bytes(64 * 2**10)
    for _ in range(size // len(block)):
        os.write(fd, block)
    os.fsync(fd)
