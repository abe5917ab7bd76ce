"""A second process that ends the supervisor when the supervisor cannot end itself.

:mod:`benchbase.registry.bounded` bounds plugin calls with a thread and a timed wait, and Ctrl-C is a Python signal
handler: both need the interpreter to run. A plugin stuck inside C code that holds the interpreter lock (a driver
call made through ``ctypes.PyDLL``, an extension that never releases the GIL) stops every thread of the supervisor,
so ``--timeout`` and SIGINT would wait for it for ever. No thread can help; another process can.

:class:`Watchdog` starts this file as a script with the run (on the standard library alone until it has to kill).
The supervisor holds the write end of a pipe to it and tells it the run folder once there is one; closing the pipe
(the supervisor ending, in order or not) ends the watchdog. The watchdog acts only when the supervisor outlives, by
:func:`grace_s`, either the run's deadline or a SIGINT/SIGTERM/SIGHUP sent to its process group (a terminal's Ctrl-C
is): then it SIGKILLs the supervisor and every process below it, and settles the run folder through the record
layer's orphan settling (:func:`benchbase.run.lock.settle_orphans`), so the record says how the run ended instead of
``running``, and says on stderr why it killed it.

Once the supervisor is dead its lock is free, so the watchdog settles the record with how the run ended:
``timeout`` past the deadline, ``interrupted`` after a signal, the reason naming the watchdog. Limit: without
``--timeout`` a call stuck in C is ended only by a signal to the process group; a signal sent to the supervisor's
pid alone is not seen.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

#: Seconds the supervisor has, past its deadline or a signal, to end in order (stopping its ranks and recording the
#: end takes seconds; the launcher's own grace for its ranks is shorter) before the watchdog kills it.
GRACE_S = 60.0
#: Environment variable overriding :data:`GRACE_S` (seconds), for tests.
GRACE_ENV = "BENCHBASE_WATCHDOG_GRACE_S"


def grace_s() -> float:
    """:data:`GRACE_S`, or :data:`GRACE_ENV` when that holds a positive number."""
    with contextlib.suppress(ValueError):
        value = float(os.environ.get(GRACE_ENV, ""))
        if value > 0:
            return value
    return GRACE_S

#: How the watchdog process starts: this file run as a script, where ``-m benchbase.run.watchdog`` would import the
#: benchbase package first (the contract, the installed version: most of its start), which the watchdog needs only
#: when it kills; every run and dry run starts one and waits for it to exit. Run this way (unlike ``python FILE``),
#: this file's folder is not put on ``sys.path``, so its modules cannot shadow the standard library's.
_RUN_THIS_FILE = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"


class Watchdog:
    """The supervisor's side: a running watchdog process and the pipe that keeps it waiting."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process

    @staticmethod
    def command(pid: int, seconds_left: float | None) -> list[str]:
        """The watchdog's command line for supervisor ``pid`` whose deadline is ``seconds_left`` from now."""
        return [sys.executable, "-c", _RUN_THIS_FILE, __file__, str(pid),
                "none" if seconds_left is None else f"{max(seconds_left, 0.0):.3f}", f"{grace_s():g}"]

    @classmethod
    def start(cls, seconds_left: float | None) -> Watchdog:
        """A watchdog for this process whose deadline is ``seconds_left`` from now (``None``: signals only)."""
        command = cls.command(os.getpid(), seconds_left)
        # In the supervisor's process group: a Ctrl-C at the terminal (or a stop sent to the group) reaches it too,
        # which the supervisor, stuck, could not pass on.
        process = subprocess.Popen(command, stdin=subprocess.PIPE, close_fds=True)
        return cls(process)

    def watch(self, run_dir: Path) -> None:
        """Tell the watchdog the run folder to settle if it has to kill the supervisor."""
        self._send(f"record {Path(run_dir).resolve()}\n")

    def stop(self) -> None:
        """The supervisor ends in order: the watchdog exits when its pipe closes."""
        with contextlib.suppress(OSError):
            if self._process.stdin is not None:
                self._process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> Watchdog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _send(self, line: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self._process.stdin is not None:
                self._process.stdin.write(line.encode())
                self._process.stdin.flush()


def _kill_tree(pid: int) -> bool:
    """SIGKILL ``pid`` and everything below it (collected first: once killed, its children are orphans)."""
    import psutil  # here, as the record's names below: a watchdog that is never needed starts on the stdlib alone

    try:
        root = psutil.Process(pid)
        below = [process for process in root.children(recursive=True) if process.pid != os.getpid()]
    except psutil.Error:
        return False
    for process in [root, *below]:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs([root, *below], timeout=10)
    return True


def _watch(pid: int, seconds_left: float | None, grace: float) -> int:
    """The watchdog's loop: wait on the pipe until it closes (exit quietly) or the supervisor is overdue."""
    due = None if seconds_left is None else time.monotonic() + seconds_left + grace
    why, signalled = "it outlived its --timeout", False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal due, why, signalled
        candidate = time.monotonic() + grace
        if due is None or candidate < due:
            due, why, signalled = candidate, f"it did not stop after {signal.Signals(signum).name}", True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    record: Path | None = None
    pending = b""
    while True:
        wait = None if due is None else max(due - time.monotonic(), 0.0)
        with contextlib.suppress(InterruptedError):
            ready, _, _ = select.select([sys.stdin.fileno()], [], [], wait)
            if not ready and due is not None and time.monotonic() >= due:
                break
            if ready:
                chunk = os.read(sys.stdin.fileno(), 4096)
                if not chunk:
                    return 0
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    text = line.decode(errors="replace")
                    if text.startswith("record "):
                        record = Path(text[len("record "):])
    if not _kill_tree(pid):
        return 0
    reason = (f"the supervisor (pid {pid}) was killed by its watchdog: {why} by {grace:g} s, stuck where Python "
              "cannot run (a plugin call inside C code holding the interpreter lock)")
    print(f"benchbase: {reason}", file=sys.stderr, flush=True)
    if record is not None:
        from benchbase.record.schema import INTERRUPTED, TIMEOUT
        from benchbase.run.lock import settle_orphans

        with contextlib.suppress(Exception):
            settle_orphans([record], ending=(INTERRUPTED if signalled else TIMEOUT, reason))
    return 0


if __name__ == "__main__":
    _pid, _left, _grace = sys.argv[1:4]
    sys.exit(_watch(int(_pid), None if _left == "none" else float(_left), float(_grace)))
