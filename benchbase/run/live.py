"""The live view of a run, built only from the event log so it shows exactly what the record will say.

On a terminal it is a table redrawn in place. Without one (a CI log, ``| tee``) it prints lines: every evaluation,
and a progress line at a steady pace, at the first log point at least :data:`PIPE_INTERVAL_S` after the previous
line (every log point or every 10 s, whichever is rarer), and after :data:`PIPE_HEARTBEAT_S` of silence even without
a new log point, so a long set-up or a slow first evaluation never reads as a hang.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from benchbase.foreign import visible
from benchbase.record.events import eval_extras
from benchbase.record.target import bound_sign

#: Seconds at least between two progress lines when the output is not a terminal.
PIPE_INTERVAL_S = 10.0
#: Seconds at most without a line when the output is not a terminal, news or not.
PIPE_HEARTBEAT_S = 60.0


class EventTail:
    """Reads complete new lines of ``events.jsonl`` since the last call (a torn last line waits for its end)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0

    def read_new(self) -> list[dict[str, Any]]:
        try:
            with open(self._path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self._offset += end + 1
        events = []
        for line in chunk[: end + 1].splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events


class RunView:
    """Step, samples/s, loss, metric against target, and ETA to the step budget."""

    def __init__(
        self,
        console: Console,
        title: str,
        max_steps: int | None,
        target: float | None,
        clock: Callable[[], float] = time.monotonic,
        higher_is_better: bool = True,
    ) -> None:
        self.console = console
        self.title = title
        self.max_steps = max_steps
        self.target = target
        #: An upper-bound target (a lower-is-better metric) is shown as one: ``target ≤ 25``.
        self.bound = "" if higher_is_better else f"{bound_sign(False)} "
        self.phase = "starting"
        self.step = 0
        self.samples = 0
        self.rate: float | None = None
        self.loss: float | None = None
        self.metric: float | None = None
        #: The case's extras of the last evaluation (e.g. a token accuracy), in the order the case gave them.
        self.extras: dict[str, float] = {}
        self._clock = clock
        self.started = clock()
        self._live: Live | None = None
        #: When the last pipe line was printed, and whether a log point or a phase change came since.
        self._last_line = self.started
        self._news = False

    def __enter__(self) -> RunView:
        if self.console.is_terminal:
            # Redrawn when the supervisor brings news (about once a second), not by a thread of its own: a periodic
            # wake-up in the supervisor takes time from ranks that fill every core (see benchbase.run.launcher_wait).
            self._live = Live(self.render(), console=self.console, auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self.render(), refresh=True)
            self._live.__exit__(*exc)

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.refresh()

    def consume(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            key = event.get("key")
            self.step = event.get("step") or self.step
            self.samples = event.get("samples") or self.samples
            meta = event.get("metadata") or {}
            if key == "run_start":
                self.phase = "training"
                self._news = True
            elif key == "step":
                self.loss = event.get("value")
                self.rate = meta.get("samples_per_s")
                self._news = True
            elif key == "eval":
                self.metric = event.get("value")
                self.extras = eval_extras(meta)
                if not self.console.is_terminal:
                    self.console.print(Text(self._eval_line()), highlight=False, soft_wrap=True)
                    self._last_line, self._news = self._clock(), False
            elif key == "train_stop":
                self.phase = f"stopped: {event.get('value')}"
        self.refresh()
        if not self.console.is_terminal:
            self._pipe_progress()

    def _pipe_progress(self) -> None:
        """One progress line when it is due (see the module docstring); called on every poll of the supervisor."""
        now = self._clock()
        quiet = now - self._last_line
        if (self._news and quiet >= PIPE_INTERVAL_S) or quiet >= PIPE_HEARTBEAT_S:
            self.console.print(Text(self.progress_line()), highlight=False, soft_wrap=True)
            self._last_line, self._news = now, False

    def progress_line(self) -> str:
        """``training: step 120/600 (1920 samples), 47.9 samples/s, loss 2.1034, 40 s elapsed, 160 s to ...``."""
        budget = f"/{self.max_steps}" if self.max_steps else ""
        parts = [f"{visible(self.phase)}: step {visible(self.step)}{budget} ({visible(self.samples)} samples)"]
        if self.rate is not None:
            parts.append(f"{_number(self.rate, '.1f')} samples/s")
        if self.loss is not None:
            parts.append(f"loss {_number(self.loss, '.4f')}")
        parts.append(f"{self._clock() - self.started:.0f} s elapsed")
        if self._eta() != "-":
            parts.append(self._eta())
        return ", ".join(parts)

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.render(), refresh=True)

    def _extras_text(self) -> str:
        """``token accuracy 0.729, loss 2.104``: every extra, named as the case names it with spaces for
        underscores. All are shown, none picked by name: the core cannot know which of a case's numbers matter."""
        return ", ".join(f"{visible(name).replace('_', ' ')} {_number(value, '.3f')}"
                         for name, value in self.extras.items())

    def _eval_line(self) -> str:
        target = f" (target {self.bound}{_number(self.target, '')})" if self.target is not None else ""
        extras = f", {self._extras_text()}" if self.extras else ""
        return f"step {visible(self.step)}: metric {_number(self.metric, '.4f')}{target}{extras}"

    def _eta(self) -> str:
        if not self.max_steps or not isinstance(self.step, int) or self.step <= 0 or self.phase != "training":
            return "-"
        elapsed = self._clock() - self.started
        remaining = elapsed / self.step * max(self.max_steps - self.step, 0)
        return f"{remaining:.0f} s to the step budget"

    def render(self) -> Table:
        table = Table(title=Text(visible(self.title)), show_header=False, expand=False)
        table.add_column(style="bold")
        table.add_column()
        budget = f"/{self.max_steps}" if self.max_steps else ""
        metric = _number(self.metric, ".4f") if self.metric is not None else "-"
        if self.target is not None:
            metric += f"  (target {self.bound}{_number(self.target, '')})"
        rows = [
            ("phase", visible(self.phase)),
            ("step", f"{visible(self.step)}{budget}  ({visible(self.samples)} samples)"),
            ("samples/s", _number(self.rate, ".1f") if self.rate is not None else "-"),
            ("loss", _number(self.loss, ".4f") if self.loss is not None else "-"),
            ("metric", metric),
        ]
        if self.extras:
            # One row, not one per extra: an extra may share a name with a row above (an eval "loss" is not the
            # training loss shown under "loss").
            rows.append(("eval extras", self._extras_text()))
        rows += [("ETA", self._eta()), ("elapsed", f"{self._clock() - self.started:.0f} s")]
        for label, value in rows:
            # Text, not markup: the phase quotes the record (a stop reason), the title and extras name plugins' words.
            table.add_row(label, Text(value))
        return table


def _number(value: Any, spec: str) -> str:
    """``value`` formatted with ``spec`` when it is a number, else spelled out as text: the view shows what the
    event log holds and must never be what ends a run."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(value, spec)
    return visible(value)
