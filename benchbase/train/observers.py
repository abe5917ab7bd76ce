"""Rank 0's calls of the lifecycle hooks (``benchbase_run_start``, ``benchbase_step``, ``benchbase_eval``,
``benchbase_event``, ``benchbase_run_end``), each implementation on its own.

A run's status is decided from evidence about training, and an observer is no such evidence: a monitor that raises
says that the monitor is broken, not that the model failed to train. So an implementation that raises is recorded
(an ``observer_error`` event naming its plugin, its hook and the error, which the supervisor lists in the summary's
``observer_errors``) and is not called again, and training goes on. Calling each implementation apart, instead of
through pluggy's one call, keeps the other observers observing after one of them broke.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchbase.errors import one_line

#: The event that records a broken observer; the supervisor copies them into ``summary.observer_errors``.
OBSERVER_ERROR_EVENT = "observer_error"
#: Longest error text an ``observer_error`` event keeps: a plugin's message is not allowed to swell the record.
MAX_ERROR_CHARS = 300


class Observers:
    """The lifecycle hooks of rank 0 (``hook`` is the registry's hook relay; ``None`` on every other rank, where
    every call is a no-op). ``record`` writes an event. A signal's exception (the worker's ``Interrupted``) derives
    from ``BaseException`` and so unwinds the rank even while an observer runs."""

    def __init__(self, hook: Any | None, record: Callable[..., None]) -> None:
        self._hook = hook
        self._record = record
        #: ``(plugin, hook)`` pairs that raised once and are no longer called.
        self.broken: set[tuple[str, str]] = set()

    def call(self, name: str, **kwargs: Any) -> None:
        """Call every implementation of hook ``name`` with ``kwargs``, in registration order (pluggy's is last
        registered first, so the list is reversed)."""
        if self._hook is None:
            return
        for impl in reversed(getattr(self._hook, name).get_hookimpls()):
            if (impl.plugin_name, name) in self.broken:
                continue
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of a monitor is the monitor's
                self.broken.add((impl.plugin_name, name))
                self._record(OBSERVER_ERROR_EVENT, impl.plugin_name, hook=name, error=_describe(exc))


def _describe(exc: BaseException) -> str:
    """The error in one bounded line; an exception whose own text fails to render is named by its type alone."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a plugin's __str__ is as untrusted as the rest of it
        text = "(its message could not be read)"
    return one_line(f"{type(exc).__name__}: {text}", MAX_ERROR_CHARS)
