"""Foreign strings as inert text: what every renderer applies first to a string benchbase did not write itself.

A path, a run id read from a folder, a reason or any field of a record, a host name, a plugin's name, description or
error, a device model, an SDK label, an extra's name: each comes from outside benchbase's code, and a buyer reads
records a vendor sent. Such a string must arrive as the characters it holds, never as an instruction to whatever
shows it. Control characters are the instructions every medium shares (a terminal obeys ESC sequences to move the
cursor, clear the screen or set the window title; a newline ends a table row, a CSV line or a shell line; the Unicode
bidirectional overrides reorder what a reader sees), so :func:`visible` spells each one out as a ``\\x1b``-style
escape. Each medium then escapes its own syntax where it writes: rich markup (:mod:`benchbase.cli.output`,
:mod:`benchbase.report.render_text`), Markdown, CSV formulas, HTML, and the Slurm batch script.
"""

from __future__ import annotations

import re

#: C0 controls, DEL and C1 controls (the terminal's ESC and CSI among them), the line and paragraph separators, and
#: the bidirectional marks, embeddings, overrides and isolates ("Trojan Source", CVE-2021-42574).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: object) -> str:
    """``text`` as a string with every control character written out (``\\x1b``, ``\\n``, ``\\u202e``), so it
    prints as one inert line whatever it holds; printable characters, emoji included, are kept as they are."""
    return _CONTROLS.sub(_spelled, str(text))


def has_control(text: str) -> bool:
    """Whether ``text`` holds a character :func:`visible` would spell out: one that can end a line or steer what
    reads it."""
    return _CONTROLS.search(text) is not None


def _spelled(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
