"""One writer per record: an exclusive lock on a run folder, held by the supervisor that runs or resumes it.

The lock is ``fcntl.flock`` on ``run.lock`` in the run folder. The kernel drops it when its holder exits, however it
exits (SIGKILL included), so a second ``run --resume`` of a folder in use is refused in one line. The file names its
last holder (pid, process start time, host, command) and, once that holder let go in order, says so (``ended``):
a record that still says ``running`` while nobody holds its lock, whose holder is gone (the start time tells a
reused pid apart) and never ended, is proof that its supervisor died. (A record hand-edited back to ``running``, or
copied while its run went on, is not mistaken for one.)

Whoever next takes the lock of such an orphaned record (``benchbase report``, ``run --resume``) settles it: it
appends ``run_stop`` and rewrites ``summary.json`` as ``failed``, with the reason, under the lock, so the record
again says what happened. Records written before the lock existed have no ``run.lock`` and are left as they are.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from benchbase.errors import BenchbaseError
from benchbase.record import disk_space, schema
from benchbase.record.events import EventLog, event_lines
from benchbase.record.files import RecordMissing, open_lock_file, read_json_record
from benchbase.record.manifest import write_manifest
from benchbase.record.rundir import RecordError, RunDir, utc_timestamp
from benchbase.record.schema import FAILED, LOCK_FILE, RUNNING, STATUS_EXIT_CODES
from benchbase.record.summary import build_summary

#: The most characters of a holder's host and command kept from ``run.lock``: they are text a record supplies, and
#: end up in a reason (as data, never as a path or a command).
MAX_HOLDER_TEXT = 200
#: The largest pid Linux hands out (``/proc/sys/kernel/pid_max`` is at most 2**22).
MAX_PID = 1 << 22
#: A start time beyond this (the year 5138) is no clock's reading; converting it to a date would overflow.
LATEST_START_S = 1e11
#: Status and reason of a record whose supervisor died; ``{holder}`` names it.
DIED = FAILED
DIED_REASON = "the supervisor died ({holder}) before it recorded an end: it was killed, or its machine stopped"


@dataclass(frozen=True)
class Holder:
    """The process that holds (or last held) a run folder's lock."""

    pid: int
    started: float
    host: str
    command: str
    #: Set when the holder released the lock in order (its record then says how the run ended).
    ended: bool = False

    @classmethod
    def me(cls, command: str) -> Holder:
        return cls(os.getpid(), psutil.Process().create_time(), socket.gethostname(), command)

    def alive(self) -> bool:
        """Whether this very process (same pid *and* start time, on this host) still runs."""
        if self.host != socket.gethostname():
            return False
        try:
            return abs(psutil.Process(self.pid).create_time() - self.started) < 1.0
        except psutil.Error:
            return False

    def describe(self) -> str:
        return f"benchbase {self.command}, pid {self.pid} on {self.host}, started {_utc(self.started)}"


def _utc(epoch_s: float) -> str:
    return utc_timestamp(datetime.fromtimestamp(epoch_s, timezone.utc))


def read_holder(run_dir: Path) -> Holder | None:
    """The holder ``run.lock`` names, or ``None`` when there is no lock file or it names nobody readable."""
    try:
        data = read_json_record(Path(run_dir) / LOCK_FILE)
        holder = Holder(int(data["pid"]), float(data["started"]), str(data["host"])[:MAX_HOLDER_TEXT],
                        str(data["command"])[:MAX_HOLDER_TEXT], bool(data.get("ended", False)))
    except (RecordError, ValueError, KeyError, TypeError, OverflowError):
        return None
    # A pid Linux can give (at most 2**22) and a start time a clock can read; anything else names nobody.
    if not (0 < holder.pid <= MAX_PID and 0 <= holder.started < LATEST_START_S):
        return None
    return holder


def _locked_fd(path: Path, writable: bool) -> int | None:
    """An fd of ``path`` holding its exclusive lock, or ``None`` when another process holds it. The file is opened by
    the record layer: never through a symlink, only a regular file, and a writable one with no other name."""
    fd = open_lock_file(path, writable)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        raise
    return fd


class RunLock:
    """The exclusive lock of one run folder; a context manager that releases it."""

    def __init__(self, fd: int, run_dir: Path, previous: Holder | None, holder: Holder) -> None:
        self._fd: int | None = fd
        self._holder = holder
        self.run_dir = Path(run_dir)
        #: Who held the lock before (a finished or a dead supervisor), read before this holder replaced it.
        self.previous = previous

    @classmethod
    def acquire(cls, run_dir: Path, command: str) -> RunLock:
        """Take the lock, or refuse in one line naming the process that holds it."""
        run_dir = Path(run_dir)
        path = run_dir / LOCK_FILE
        try:
            fd = _locked_fd(path, writable=True)
        except OSError as exc:
            raise disk_space.unwritable(exc, path) from None
        if fd is None:
            holder = read_holder(run_dir)
            who = holder.describe() if holder else "another benchbase process"
            raise BenchbaseError(
                f"{run_dir} is in use by {who}; a run folder has one writer at a time",
                "wait until that process ends (or stop it), then try again",
            )
        previous = read_holder(run_dir)
        holder = Holder.me(command)
        _name(fd, holder)
        return cls(fd, run_dir, previous, holder)

    def settle_orphan(self) -> str | None:
        """If the record says ``running``, its previous writer died: record that (see the module); the reason."""
        return _settle(RunDir(self.run_dir), self.previous)

    def release(self) -> None:
        """Let go in order: the file says so, which a holder killed on the way never gets to write."""
        if self._fd is not None:
            _name(self._fd, replace(self._holder, ended=True))
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _name(fd: int, holder: Holder) -> None:
    """Write ``holder`` into the lock file. Without it the lock still works; only a later "supervisor died" message
    loses the pid (and on a full disk the previous holder stays named)."""
    payload = json.dumps(asdict(holder)).encode()
    with contextlib.suppress(OSError):
        if os.pwrite(fd, payload, 0) == len(payload):
            os.ftruncate(fd, len(payload))


def _settle(run_dir: RunDir, holder: Holder | None, ending: tuple[str, str] | None = None) -> str | None:
    """Rewrite a ``running`` record whose writer is gone as failed, or as ``ending`` (status, reason) when whoever
    settles knows how it ended (the watchdog that killed it). The caller holds the lock."""
    try:
        summary = run_dir.read_summary()
    except RecordError:
        return None
    if summary["status"] != RUNNING or (holder is not None and (holder.ended or holder.alive())):
        return None
    status, reason = ending or (DIED, DIED_REASON.format(holder=holder.describe() if holder else "unknown process"))
    last_s = _last_sign_of_life_ms(run_dir)
    ended_at = _utc(last_s / 1000) if last_s is not None else None
    code = STATUS_EXIT_CODES[status]
    # Stamped at the last sign of life, not now: the run ended when its supervisor died, not when it was noticed.
    with EventLog(run_dir.events_path, rank=None, clock=lambda: (last_s or 0.0) / 1000) as log:
        log.emit("run_stop", status, exit_code=code, reason=reason, settled_at=utc_timestamp())
    base: dict[str, Any] = {key: summary[key] for key in schema.base_field_names() if key in summary}
    extras = {key: value for key, value in summary.items() if key not in schema.field_names()}
    base.update(status=status, exit_code=code, reason=reason, ended_at=ended_at,
                e2e_s=(summary.get("windows") or {}).get("e2e_s"))
    run_dir.write_summary(build_summary(run_dir, base, extras=extras))
    write_manifest(run_dir.path)
    return reason


def _last_sign_of_life_ms(run_dir: RunDir) -> float | None:
    """The latest ``time_ms`` of the record's events, read a line at a time (an orphan may have run for hours)."""
    latest = None
    try:
        for line in event_lines(run_dir.events_path):
            time_ms = line.event.get("time_ms") if line.event is not None else None
            if isinstance(time_ms, (int, float)):
                latest = float(time_ms) if latest is None else max(latest, float(time_ms))
    except RecordMissing:
        return None
    return latest


def _candidates(paths: Iterable[Path]) -> Iterator[Path]:
    """Run folders with a lock file under ``paths`` (run folders, or folders of them one level deep).

    A run folder that is itself a symlink is never settled: settling writes into it, and a link can point anywhere.
    (A folder of runs given as a link is the user's own layout and is looked into.)"""
    for given in paths:
        given = Path(given)
        if _settleable(given):
            yield given
        elif given.is_dir():
            # By name, with the link test from the directory listing and one stat a run folder: a report looks into
            # folders of thousands of runs, nearly none of them locked.
            names: list[str] = []
            with contextlib.suppress(OSError), os.scandir(given) as entries:
                names = sorted(entry.name for entry in entries if not entry.is_symlink())
            yield from (given / name for name in names if os.path.isfile(os.path.join(given, name, LOCK_FILE)))


def _settleable(folder: Path) -> bool:
    return not folder.is_symlink() and (folder / LOCK_FILE).is_file()


def settle_orphans(paths: Iterable[Path], ending: tuple[str, str] | None = None) -> list[tuple[Path, str]]:
    """Settle every orphaned record under ``paths`` that this process may write; returns (folder, reason) pairs.

    ``ending`` is the (status, reason) to record when the caller knows how the run ended: the watchdog that killed a
    supervisor stuck past its ``--timeout`` records ``timeout``. A record that cannot be settled (a read-only
    archive, a damaged summary) is left as it is: the report then lists it as still running, as before.
    """
    settled = []
    for run_dir in _candidates(paths):
        try:
            fd = _locked_fd(run_dir / LOCK_FILE, writable=False)
        except (OSError, RecordError):
            continue
        if fd is None:
            continue
        try:
            reason = _settle(RunDir(run_dir), read_holder(run_dir), ending)
        except (OSError, BenchbaseError):
            reason = None
        finally:
            os.close(fd)
        if reason is not None:
            settled.append((run_dir, reason))
    return settled
