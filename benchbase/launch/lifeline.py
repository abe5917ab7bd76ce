"""No process of a run outlives its supervisor by more than a few seconds, whatever ended the supervisor.

The ranks live in a session of their own (so that Ctrl-C reaches only the supervisor, which decides what to do), so
nothing would stop them if the supervisor were killed with SIGKILL. Each process of a run therefore holds a lifeline:

- The launcher (the worker itself for 1x1, torchrun otherwise) is started as ``python .../lifeline.py PID --
  COMMAND`` (this file as a script: it needs nothing but the standard library, so it starts in about 10 ms): that
  asks the kernel to send SIGTERM when its parent, the supervisor, exits
  (``prctl(PR_SET_PDEATHSIG)``, which survives the ``exec`` of COMMAND that follows). torchrun passes SIGTERM on to
  its ranks, as when it is stopped by hand.
- Every rank asks the same of its own parent and watches the supervisor itself, whose pid it finds in
  :data:`SUPERVISOR_ENV`: a thread blocked on a pidfd of the supervisor (no periodic wake-up, so it costs the
  training step nothing) stops the rank as SIGTERM would once the supervisor has exited, and ends the process if
  that has not happened after :data:`RANK_GRACE_S` (a rank blocked in a collective never runs its handler).
- Helper processes the supervisor itself starts (CPM's tokenizer workers) call :func:`die_with_parent`.

Each lifeline checks, after it is tied, that the parent it expects is still there: a parent that died just before
would otherwise never be noticed.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import signal
import sys
import threading
import time

#: The supervisor's pid, passed to every rank through the environment.
SUPERVISOR_ENV = "BENCHBASE_SUPERVISOR_PID"
#: How long a rank whose supervisor has died gets to record its stop before it is ended outright.
RANK_GRACE_S = 5.0
#: How often a rank looks for its supervisor where the kernel gives no pidfd (Linux before 5.3).
WITHOUT_PIDFD_S = 1.0
_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> None:
    """Have the kernel send ``sig`` to this process when its parent exits (Linux only; elsewhere a no-op).

    ``parent`` is the pid the parent must have: if the process was already reparented (its parent died before the
    request was made), ``sig`` is sent at once.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)


def launcher_command(command: list[str], supervisor_pid: int) -> list[str]:
    """``command`` started through the lifeline of :func:`main` (``-I -S``: no site packages to import first)."""
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), str(supervisor_pid), "--", *command]


def guard_rank(exit_code: int) -> None:
    """In a rank: end with the parent, and stop when the supervisor (named by :data:`SUPERVISOR_ENV`) is gone.

    ``exit_code`` is what the process exits with if it has not stopped by itself :data:`RANK_GRACE_S` after
    the SIGTERM it sends itself. A rank started by hand (no supervisor named) only ends with its parent.
    """
    die_with_parent(signal.SIGTERM)
    raw = os.environ.get(SUPERVISOR_ENV, "")
    if not raw.isdigit():
        return
    thread = threading.Thread(
        target=_stop_when_gone, args=(int(raw), exit_code), name="benchbase-lifeline", daemon=True
    )
    thread.start()


def _stop_when_gone(pid: int, exit_code: int) -> None:
    _wait_for_exit(pid)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(RANK_GRACE_S)
    os._exit(exit_code)


def _wait_for_exit(pid: int) -> None:
    """Return once process ``pid``, an ancestor of this one, has exited (at once if it is no ancestor: then the
    supervisor died before this rank looked, and the pid may already name someone else)."""
    import psutil

    try:
        ancestors = {parent.pid: parent for parent in psutil.Process().parents()}
    except psutil.Error:
        return
    supervisor = ancestors.get(pid)
    if supervisor is None:
        return
    try:
        fd: int | None = os.pidfd_open(pid)
    except AttributeError:
        fd = None
    except OSError as exc:
        if exc.errno == errno.ESRCH:
            return
        fd = None  # a kernel without pidfds (before 5.3)
    if fd is None:
        while supervisor.is_running() and supervisor.status() != psutil.STATUS_ZOMBIE:
            time.sleep(WITHOUT_PIDFD_S)
        return
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll()
    finally:
        os.close(fd)


def main(argv: list[str]) -> None:
    """``python lifeline.py PID -- COMMAND...``: tie this process to ``PID``, then become COMMAND."""
    if len(argv) < 3 or not argv[0].isdigit() or argv[1] != "--":
        sys.exit("usage: python lifeline.py PID -- COMMAND [ARG...]")
    die_with_parent(signal.SIGTERM, parent=int(argv[0]))
    os.execv(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
