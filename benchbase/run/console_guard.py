"""The console can never fail a run: what the user sees is a courtesy, the record is the result.

``benchbase run ... | head -1`` closes the pipe after one line; stdout redirected to a file on a full disk (or to
``/dev/full``) refuses every write. Either raises ``OSError`` from whatever printed next: a progress line in the
middle of the watch loop, the outcome line, the final table, even the interpreter's last flush at exit (which would
turn the run's exit code into 120). None of that is evidence about training. :class:`GuardedStream` is the stream
the rich consoles write to: the first failed write is swallowed, the stream's descriptor is pointed at
``/dev/null`` (so nothing, not even the flush at exit, meets the failure again) and one note goes to stderr; every
later write is dropped. :class:`GuardedView` does the same for the run's live view, whatever it raises.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable
from typing import Any


def _unwrapped(stream: Any) -> Any:
    """The real stream behind rich's stdout proxy (a live display redirects ``sys.stdout`` through its console)."""
    return getattr(stream, "rich_proxied_file", stream)


class GuardedStream(io.TextIOBase):
    """A text stream that forwards to ``target()`` (looked up at each write, so a test's captured ``sys.stdout`` is
    honoured) until a write fails, and then quietly takes everything."""

    def __init__(self, target: Callable[[], Any], name: str) -> None:
        super().__init__()
        self._target = target
        self._name = name
        #: Why the stream stopped forwarding (the first failure), or ``None`` while it forwards.
        self.lost: str | None = None

    def _stream(self) -> Any:
        return _unwrapped(self._target())

    def write(self, text: str) -> int:
        if self.lost is None:
            try:
                self._stream().write(text)
                self._stream().flush()
            except OSError as exc:
                self._lose(exc)
        return len(text)

    def flush(self) -> None:
        if self.lost is None:
            try:
                self._stream().flush()
            except OSError as exc:
                self._lose(exc)

    def isatty(self) -> bool:
        return self.lost is None and bool(self._stream().isatty())

    def fileno(self) -> int:
        return int(self._stream().fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._stream(), "encoding", None) or "utf-8")

    def _lose(self, exc: OSError) -> None:
        """Stop forwarding, once: the descriptor now leads to ``/dev/null`` and stderr (if it still works) says so."""
        self.lost = exc.strerror or type(exc).__name__
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream().fileno())
            os.close(devnull)
        if self._name != "stderr":
            with contextlib.suppress(OSError, ValueError):
                print(f"note: {self._name} stopped taking output ({self.lost}); the run goes on and its record is "
                      "complete", file=sys.stderr, flush=True)


class GuardedView:
    """The run's live view (:class:`benchbase.run.live.RunView`), shown while it works: a view that raises (a
    console gone, a rendering bug, an event it cannot show) is dropped and the watch loop goes on without it."""

    def __init__(self, view: Any) -> None:
        self._view = view
        self.failed = False

    def consume(self, events: list[dict[str, Any]]) -> None:
        if self.failed:
            return
        try:
            self._view.consume(events)
        except Exception:  # noqa: BLE001 - showing progress is never a reason to stop watching the ranks
            self.failed = True
