"""Watching the ranks: the launcher's process tree, and the loop that forwards signals, keeps the deadline and stops
the ranks when the record can no longer take what they measure."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from benchbase.launch import lifeline
from benchbase.launch.plan import LaunchPlan
from benchbase.record import disk_space
from benchbase.record.rundir import RunDir
from benchbase.run.console_guard import GuardedView
from benchbase.run.launcher_wait import LauncherWait
from benchbase.run.live import EventTail, RunView
from benchbase.run.signals import Signals
from benchbase.run.telemetry import Sampler

#: Seconds ranks get to write their last events after SIGINT/SIGTERM before they are killed.
GRACE_S = 20.0
#: Longest sleep of the watch loop: the live view and the list of the run's processes are brought up to date this
#: often. The launcher's exit, a signal and every deadline wake it at once (see :mod:`benchbase.run.launcher_wait`).
WATCH_S = 1.0


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the launcher's process group; a group already gone has ended on its own meanwhile."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class RunProcesses:
    """Every process below the launcher, remembered while it lives, so that none outlives the run.

    torchrun starts each rank in a session of its own: a signal to the launcher's process group reaches torchrun only,
    and a torchrun killed at the end of the grace period leaves its ranks behind (it would give up on them only 30 s
    after asking them to stop). Processes are held as :class:`psutil.Process`, which checks a pid still names the same
    process before signalling it, so a reused pid is never hit.

    While looking, it also notes the rendezvous the ranks were given (:attr:`rendezvous`): ``torchrun --standalone``
    picks its own port, so only a rank's environment says which one the run used.
    """

    REFRESH_S = 1.0

    def __init__(self, launcher: subprocess.Popen[bytes]) -> None:
        self._launcher = launcher
        self._seen: dict[int, psutil.Process] = {}
        self._refreshed = float("-inf")
        #: ``MASTER_ADDR``/``MASTER_PORT`` as this node's local rank 0 saw them; ``None`` until a rank is seen.
        self.rendezvous: dict[str, Any] | None = None

    def remember(self, now: float) -> None:
        if now - self._refreshed < self.REFRESH_S:
            return
        self._refreshed = now
        try:
            for child in psutil.Process(self._launcher.pid).children(recursive=True):
                self._seen.setdefault(child.pid, child)
                if self.rendezvous is None:
                    self.rendezvous = rendezvous_seen_by(child)
        except psutil.Error:
            return

    def kill(self) -> None:
        """SIGKILL every remembered process still running (after a normal end there is none) and wait for them."""
        killed = []
        for process in self._seen.values():
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    process.kill()
                    killed.append(process)
            except psutil.Error:
                continue
        psutil.wait_procs(killed, timeout=5)


def rendezvous_seen_by(process: psutil.Process) -> dict[str, Any] | None:
    """The master address and port in a local rank 0's environment (what ``init_process_group`` connects to), or
    ``None`` for any other process, or one still between fork and exec (its environment is still its parent's)."""
    try:
        environ = process.environ()
    except psutil.Error:
        return None
    if environ.get("LOCAL_RANK") != "0" or not environ.get("MASTER_PORT", "").isdigit():
        return None
    return {
        "master_addr": environ.get("MASTER_ADDR"),
        "master_port": int(environ["MASTER_PORT"]),
        "seen_in": f"environment of rank {environ.get('RANK')} (local rank 0, pid {process.pid})",
    }
def launcher_log(run_dir: RunDir) -> IO[bytes]:
    """``logs/launcher.log``, appended to: a resumed run keeps what its earlier attempts' launcher said."""
    Path(run_dir.logs_dir).mkdir(parents=True, exist_ok=True)
    return open(Path(run_dir.logs_dir) / "launcher.log", "ab")


def start_launcher(plan: LaunchPlan, log: IO[bytes], handover: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start the plan's command in a session of its own (Ctrl-C reaches only the supervisor, which forwards it), tied
    to this process by its lifeline so that it never outlives it. ``handover`` is added to the ranks' environment
    (this node's prepared-data facts, :mod:`benchbase.train.prepared_facts`)."""
    return subprocess.Popen(
        lifeline.launcher_command(plan.command, os.getpid()),
        env={**os.environ, **plan.environment(), **handover, lifeline.SUPERVISOR_ENV: str(os.getpid())},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


@dataclass(frozen=True)
class Watched:
    """What the watch loop saw and did: what the status is decided from (:func:`benchbase.run.status.decide_status`)."""

    return_code: int | None
    timed_out: bool
    write_failure: str | None


def watch(
    proc: subprocess.Popen[bytes],
    processes: RunProcesses,
    signals: Signals,
    sampler: Sampler,
    run_dir: RunDir,
    view: RunView,
    timeout_s: float,
    process_start: float,
) -> Watched:
    """Until the launcher exits: show the ranks' events, remember their processes, and on a signal, the deadline or a
    record that cannot take more, stop them (SIGINT or SIGTERM first, SIGKILL after :data:`GRACE_S`). Sleeps until
    something happens (:class:`benchbase.run.launcher_wait.LauncherWait`), never longer than :data:`WATCH_S`."""
    timed_out = False
    write_failure: str | None = None
    return_code: int | None = None
    tail = EventTail(Path(run_dir.events_path))
    shown = GuardedView(view)  # the view is a courtesy: one that raises is dropped, the ranks are still watched
    with LauncherWait(proc) as launcher_wait:
        stop_deadline: float | None = None
        while True:
            return_code = proc.poll()
            shown.consume(tail.read_new())
            if return_code is not None:
                break
            now = time.perf_counter()
            processes.remember(now)
            if signals.received is not None and stop_deadline is None:
                signal_group(proc, signal.SIGINT)
                stop_deadline = now + GRACE_S
            if timeout_s and not timed_out and now - process_start > timeout_s:
                timed_out = True
                signal_group(proc, signal.SIGTERM)
                stop_deadline = now + GRACE_S
            if write_failure is None:
                write_failure = sampler.write_failure or record_disk_problem(run_dir)
            if write_failure is not None and stop_deadline is None:
                # The record cannot take more: training on would measure what can never be recorded. (Appends
                # fill the free end of a file's last block first, so a full disk is seen before a write fails.)
                signal_group(proc, signal.SIGTERM)
                stop_deadline = now + GRACE_S
            if stop_deadline is not None and now > stop_deadline:
                signal_group(proc, signal.SIGKILL)
                processes.kill()
                stop_deadline = now + 3600
            deadlines = [WATCH_S]
            if stop_deadline is not None:
                deadlines.append(stop_deadline - now)
            if timeout_s and not timed_out:
                deadlines.append(process_start + timeout_s - now)
            launcher_wait.wait(min(deadlines))
        processes.kill()
        shown.consume(tail.read_new())
    if write_failure is None and return_code != 0:
        # A rank that met the disk's refusal first exits before the loop looks again: the disk is the cause.
        write_failure = record_disk_problem(run_dir)
    return Watched(return_code, timed_out, write_failure)


def record_disk_problem(run_dir: RunDir) -> str | None:
    """Why the disk holding the run folder can take no more of its record (it turned read-only, or filled), as the
    run's reason; ``None`` while it can."""
    if _refuses_writes(run_dir.path):
        return f"the disk holding {run_dir.path} became read-only; the ranks were stopped"
    if disk_space.is_full(run_dir.path):
        return disk_space.full_disk_reason(run_dir.path)
    return None


def _refuses_writes(folder: Path) -> bool:
    """Whether the filesystem holding ``folder`` has turned read-only. Asked by opening a nameless file there, not
    by the mount flags alone: a filesystem that meets an error and protects itself (ext4's ``errors=remount-ro``)
    may refuse every write while still mounted read-write."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
        with tempfile.TemporaryFile(dir=folder):
            return False
    except OSError as exc:
        return exc.errno == errno.EROFS
