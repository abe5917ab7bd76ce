"""The one exception type that reaches a user as a single line.

Anything a user can cause (a bad flag, a malformed YAML file, a missing data directory, a checkpoint with the
wrong shapes) is raised as :class:`BenchbaseError`. The CLI prints its message on one line and exits non-zero,
without a traceback. Every message names the problem *and* the fix, so a user never has to read our source.
"""

from __future__ import annotations


class BenchbaseError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""

    exit_code: int = 2

    def __init__(self, problem: str, fix: str | None = None) -> None:
        message = problem if not fix else f"{problem}; {fix}"
        super().__init__(" ".join(message.split()))
