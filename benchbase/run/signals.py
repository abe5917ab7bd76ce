"""Signals and the run's deadline, from the supervisor's first plugin call to the end of the run."""

from __future__ import annotations

import math
import signal
import time
from typing import Any

from benchbase.registry import bounded
from benchbase.registry.bounded import RunStopped


#: The signals that stop a run as ``interrupted``, its record finished. SIGHUP is one of them: a closed terminal or
#: a dropped ssh session is a user's stop like Ctrl-C, and left at its default it would kill the supervisor with the
#: record still saying ``running``.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Signals:
    """SIGINT, SIGTERM, SIGHUP and the run's deadline (SIGALRM), from the first plugin call to the end of the run.

    Until the launcher starts, a signal raises :class:`benchbase.registry.bounded.RunStopped` in the main thread, and so does
    the deadline: discovery and preparation (CPM's tokenizer pool included) unwind through every ``with`` and
    ``finally``, their helper processes are shut down and the lock is released, instead of the process dying and
    leaving them running. Once the launcher runs (:meth:`to_flags`), a signal is a flag the watch loop acts on
    (forward it to the ranks, then record ``interrupted``), and the watch loop keeps the deadline itself.
    """

    def __init__(self, deadline: float | None) -> None:
        self.received: int | None = None
        self._doing = "starting"
        self._timeout_fix = "raise --timeout"
        self._deadline = deadline
        self._raising = True
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Signals:
        for sig in (*STOP_SIGNALS, signal.SIGALRM):
            self._previous[sig] = signal.signal(sig, self._handle)
        if self._deadline is not None and math.isfinite(self._deadline):
            signal.setitimer(signal.ITIMER_REAL, max(self._deadline - time.perf_counter(), 0.001))
        return self

    def phase(self, doing: str, timeout_fix: str = "raise --timeout") -> None:
        """What the supervisor does now, and what to do if the deadline passes meanwhile: for the one line of a
        stop before the ranks start."""
        self._doing, self._timeout_fix = doing, timeout_fix

    def _handle(self, signum: int, _frame: Any) -> None:
        if signum == signal.SIGALRM:
            if self._raising:
                raise bounded.timeout_stop(self._doing, self._timeout_fix)
            return
        self.received = signum
        if self._raising:
            raise RunStopped(
                f"stopped by {signal.Signals(signum).name} while {self._doing}; nothing was recorded",
                128 + signum,
                "interrupted",
            )

    def to_flags(self) -> None:
        """From now on a signal only sets :attr:`received`; the deadline is the watch loop's to keep."""
        self._raising = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        bounded.set_deadline(None)

    def __exit__(self, *exc: Any) -> None:
        self.to_flags()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def signal_name(number: int) -> str:
    """A signal's name, or its number where Python has no name for it, for the one line of a stop."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
