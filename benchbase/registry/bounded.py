"""Time limits on what the supervisor does not control: calls into plugins, and the run's own ``--timeout``.

A vendor's ``discover()`` that waits forever on a hung driver must not hang ``benchbase run`` or ``benchbase env``
with it. Every call the supervisor makes into a plugin goes through :func:`call`, which runs it in a daemon thread
and waits at most :func:`plugin_limit_s` (and never past the run's deadline); a hang becomes one line naming the
call, the plugin and its distribution. (A thread cannot be killed: a hung call is left behind, and the process exits
past it. A call that holds the interpreter lock forever inside C code cannot be bounded this way.)

The run's ``--timeout`` counts from the start of the command: discovery and preparation are inside it. Its deadline
is set with :func:`set_deadline` (:func:`deadline_within` for a block); a plugin call still running then ends
the run as :class:`RunStopped`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from benchbase.errors import BenchbaseError

T = TypeVar("T")
#: Longest a single plugin call may take, unless :data:`LIMIT_ENV` says otherwise. Discovery on a large node
#: (NVML over eight devices, reading topology) takes well under a second; a minute is a hang, not a slow driver.
PLUGIN_LIMIT_S = 60.0
#: Environment variable overriding :data:`PLUGIN_LIMIT_S` (seconds), for slow machines and for tests.
LIMIT_ENV = "BENCHBASE_PLUGIN_TIMEOUT_S"
#: Exit code of a run stopped by its ``--timeout`` (the ``timeout`` status's code).
TIMEOUT_EXIT = 5

_deadline: tuple[float, str] | None = None


class PluginHang(BenchbaseError):
    """A plugin call did not return within its limit."""


class PluginFailed(BenchbaseError):
    """A plugin call raised something other than a :class:`BenchbaseError` (a ``KeyError``, a ``SystemExit``): a
    fault of the plugin, told as one line naming it rather than as a traceback or an exit the plugin chose."""


class RunStopped(BaseException):
    """A run stopped by a signal or by its ``--timeout`` before it had a record (or before its ranks started).

    A ``BaseException``, like ``KeyboardInterrupt``, so that a plugin's ``except Exception`` cannot swallow it while
    it prepares data; the command line prints it as one line and exits with :attr:`exit_code`.
    """

    def __init__(self, message: str, exit_code: int, status: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.status = status


def plugin_limit_s() -> float:
    raw = os.environ.get(LIMIT_ENV)
    try:
        value = float(raw) if raw else PLUGIN_LIMIT_S
    except ValueError:
        raise BenchbaseError(f"{LIMIT_ENV}={raw!r} is not a number", "give a number of seconds") from None
    if not value > 0:
        raise BenchbaseError(f"{LIMIT_ENV}={raw!r} is not a positive number of seconds", "give a number above 0")
    return value


def set_deadline(timeout_s: float | None, started: float | None = None) -> float | None:
    """From now on no plugin call runs past ``started + timeout_s`` (``time.perf_counter()``, default now; no limit
    when ``timeout_s`` is ``None`` or not above 0, which the config's validation refuses anyway); returns the
    deadline."""
    global _deadline
    if timeout_s is None or not timeout_s > 0:
        _deadline = None
        return None
    at = (time.perf_counter() if started is None else started) + float(timeout_s)
    _deadline = (at, f"its --timeout of {float(timeout_s):g} s")
    return at


@contextmanager
def deadline_within(timeout_s: float | None) -> Iterator[None]:
    """:func:`set_deadline` for a block (what a command does before its run's own clock starts), then the deadline
    as it was: the limit never outlives the command that set it."""
    previous = _deadline
    set_deadline(timeout_s)
    try:
        yield
    finally:
        _restore(previous)


def _restore(previous: tuple[float, str] | None) -> None:
    global _deadline
    _deadline = previous


def timeout_stop(doing: str, fix: str = "raise --timeout") -> RunStopped:
    """The :class:`RunStopped` of a run whose deadline passed while it was ``doing`` something."""
    what = _deadline[1] if _deadline else "its --timeout"
    return RunStopped(f"the run exceeded {what} while {doing}; nothing was recorded; {fix}", TIMEOUT_EXIT, "timeout")


def exception_text(exc: BaseException) -> str:
    """``KeyError: 'x'``: a plugin's exception as one line, even one whose ``__str__`` itself raises."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a plugin's exception class may break its own message
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def name_of(owner: Any) -> str:
    """``vendor 'x' (plugin 'p', distribution d 1.0)``: a case or vendor as a hang message names it."""
    from benchbase.contract import Case
    from benchbase.registry.origins import origin_of

    if owner is None:
        return "a plugin"
    kind = "case" if isinstance(owner, Case) else "vendor"
    name = f"{kind} '{getattr(owner, 'name', type(owner).__name__)}'"
    info = origin_of(owner)
    return f"{name} of plugin {info.label}" if info is not None else name


def call(owner: Any, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)``, a call into ``owner``'s plugin described as ``what`` (``discover()``), run
    under the plugin limit and the run's deadline. A :class:`BenchbaseError` (the plugin's own one-line refusal) or
    a :class:`RunStopped` is raised here as it is; anything else it raises, ``SystemExit`` and ``KeyboardInterrupt``
    included (a signal reaches the main thread, never this call's), is :class:`PluginFailed` naming the plugin."""
    limit = plugin_limit_s()
    by_deadline = False
    if _deadline is not None:
        left = _deadline[0] - time.perf_counter()
        if left < limit:
            limit, by_deadline = max(left, 0.0), True
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, who sees it as if it had called directly
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name=f"benchbase-plugin-{what}", daemon=True).start()
    if not done.wait(limit):
        if by_deadline:
            raise timeout_stop(f"{name_of(owner)} ran {what}")
        raise PluginHang(
            f"{name_of(owner)}: {what} did not return within {limit:g} s",
            f"fix or uninstall that plugin's distribution, or allow it longer with {LIMIT_ENV}=SECONDS",
        )
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, (BenchbaseError, RunStopped)):
            raise error
        raise PluginFailed(
            f"{name_of(owner)}: {what} raised {exception_text(error)}",
            "fix or uninstall that plugin's distribution (BENCHBASE_DEBUG=1 shows where it raised)",
        ) from error
    return outcome["value"]
