"""The one exception type that reaches a user as a single line.

Anything a user can cause (a bad flag, a malformed YAML file, a missing data directory, a checkpoint with the
wrong shapes) is raised as :class:`BenchbaseError`. The CLI prints its message on one line and exits non-zero,
without a traceback. Every message names the problem *and* the fix, so a user never has to read our source.

A message quotes what the user gave (a value, a file's YAML problem, a path), and what they gave may be huge: a
``--set`` value of megabytes, a config that expands to millions of items. So the length is bounded here, once, for
every message of every subclass: a problem longer than :data:`MAX_PROBLEM_CHARS` keeps its head and says how much
was left out, and the fix (always ours, short) is kept whole up to :data:`MAX_FIX_CHARS`.
"""

from __future__ import annotations

#: Characters of the problem part a user reads: room for two long paths and a quoted value.
MAX_PROBLEM_CHARS = 500
#: Characters of the fix part; fixes are benchbase's and the plugins' own text, but some are commands to paste that
#: quote the user's paths (the CPM plugin's re-save command for refused shards names the folder twice), so the
#: limit leaves room for several long paths and only stops a runaway fix.
MAX_FIX_CHARS = 2000
#: Characters kept free at the end of a cut text for the note saying how much was left out.
_NOTE_ROOM = 32


def one_line(text: str, limit: int) -> str:
    """``text`` on one line (runs of whitespace, newlines included, become one space), cut to ``limit`` characters
    with an ellipsis and the number of characters left out."""
    window = limit * 4  # only the head is normalised: splitting a 250 MB text would itself cost seconds
    line = " ".join(text[:window].split())
    if len(line) <= limit and len(text) <= window:
        return line
    kept = max(limit - _NOTE_ROOM, 0)
    left = len(line) - kept + max(len(text) - window, 0)
    return f"{line[:kept]}... [{left} more characters]"


class BenchbaseError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""

    exit_code: int = 2

    def __init__(self, problem: str, fix: str | None = None) -> None:
        message = one_line(problem, MAX_PROBLEM_CHARS)
        if fix:
            message = f"{message}; {one_line(fix, MAX_FIX_CHARS)}"
        super().__init__(message)
