"""``--repeat K``: K runs of one request in a repeat group, the data prepared once for all of them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from rich.markup import escape

from benchbase.config.resolve import repeat_config
from benchbase.foreign import visible
from benchbase.run.request import RunOutcome, RunRequest
from benchbase.run.supervisor import execute


def run_repeats(
    request: RunRequest, repeat: int, console: Any, progress: Callable[[str, int, int | None], None]
) -> list[RunOutcome]:
    """Run ``request`` ``repeat`` times, each with its own seed (:func:`repeat_config`), and stop after a repeat that
    was interrupted: the user asked the whole command to stop, not that repeat."""
    resolved = request.resolved
    group = uuid.uuid4().hex[:12] if repeat > 1 else None
    prepared: dict[str, Any] = {}

    def prepare() -> dict[str, Any]:
        if not prepared:
            prepared.update(request.case.prepare(dict(resolved.values), request.data_dir, request.cache_dir, progress))
        return prepared

    outcomes = []
    for index in range(repeat):
        request.repeat_group, request.repeat_index = group, index
        if request.resume_dir is None:
            request.resolved = repeat_config(resolved, index)
        outcome = execute(request, console, prepare)
        outcomes.append(outcome)
        console.print(
            f"[bold]{outcome.status}[/bold]: {escape(visible(outcome.summary.get('reason')))} -> "
            f"{escape(visible(outcome.run_dir))}", soft_wrap=True, highlight=False
        )
        if outcome.status == "interrupted":
            break
    return outcomes
