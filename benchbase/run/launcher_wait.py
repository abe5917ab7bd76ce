"""Sleeping in the supervisor until something needs it: the launcher exiting, a signal, or a deadline.

The supervisor shares the machine with the ranks it watches, and on a host whose cores the ranks fill, every
periodic wake-up of another thread costs them: measured here on 2 vCPUs, a thread waking ten times a second and
doing nothing slowed the demo's training by about 2%. So the watch loop does not poll the launcher: it blocks on a
pidfd of the launcher (readable when it exits) and on the interpreter's signal wake-up fd (written when SIGINT or
SIGTERM arrives), with a timeout only for the work that is periodic by nature (the live view, deadlines).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess

#: How long to wait when the kernel gives no pidfd (Linux before 5.3): then the launcher's exit is noticed only by
#: polling, as often as this.
WITHOUT_PIDFD_S = 0.2


class LauncherWait:
    """Wait for the launcher's exit or a signal, at most a given time. Use in the main thread, as a context."""

    def __init__(self, launcher: subprocess.Popen[bytes]) -> None:
        self._poller = select.poll()
        try:
            self._pidfd: int | None = os.pidfd_open(launcher.pid)
        except (AttributeError, OSError):
            self._pidfd = None
        else:
            self._poller.register(self._pidfd, select.POLLIN)
        self._signal_read, self._signal_write = os.pipe()
        os.set_blocking(self._signal_read, False)
        os.set_blocking(self._signal_write, False)
        self._poller.register(self._signal_read, select.POLLIN)
        self._previous_wakeup_fd = -1

    def __enter__(self) -> LauncherWait:
        self._previous_wakeup_fd = signal.set_wakeup_fd(self._signal_write, warn_on_full_buffer=False)
        return self

    def __exit__(self, *exc_info: object) -> None:
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        for fd in (self._pidfd, self._signal_read, self._signal_write):
            if fd is not None:
                os.close(fd)

    def wait(self, at_most_s: float) -> None:
        """Return when the launcher has exited, a signal has arrived, or ``at_most_s`` seconds have passed."""
        if self._pidfd is None:
            at_most_s = min(at_most_s, WITHOUT_PIDFD_S)
        self._poller.poll(max(0, round(at_most_s * 1000)))
        try:
            while os.read(self._signal_read, 512):
                pass
        except BlockingIOError:
            pass
