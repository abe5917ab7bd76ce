"""What the hostile-input, range, cache and report catalogues share: the command run as a user runs it, and the checks
every entry makes (its exit code, a message of at most three lines and no traceback, earlier files untouched).

Most entries run ``benchbase.cli.main`` in the test's own process: it is the console script's whole body (argument
parsing, the command, the one-line error handler and the exit code), and after the first import an entry costs
milliseconds where a fresh interpreter costs seconds. Inputs that could take the process down if their bound
regressed (an alias bomb, ``/dev/zero``) run in a subprocess under a memory limit instead (:func:`run_bounded`), so a
regression fails its test instead of the test session.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_support import Bench, benchbase_command, tree_digest

from benchbase.cli import main

#: Address space of a bounded subprocess: the CLI peaks near 0.8 GiB of virtual memory after its imports.
BOUNDED_MEMORY_BYTES = 3 << 30


@dataclass
class Outcome:
    """How one command ended: its exit code and what it printed."""

    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [line for line in (self.stdout + self.stderr).splitlines() if line.strip()]


def run_in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> Outcome:
    """``benchbase ARGS`` through the console script's entry point, in this process."""
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["benchbase", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def run_bounded(bench: Bench, *args: str, timeout: float = 120) -> Outcome:
    """``benchbase ARGS`` in a subprocess limited to :data:`BOUNDED_MEMORY_BYTES` of address space."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (BOUNDED_MEMORY_BYTES, BOUNDED_MEMORY_BYTES))

    result = subprocess.run(
        benchbase_command(list(args)), cwd=bench.cwd, env=bench.env(), capture_output=True, text=True,
        timeout=timeout, preexec_fn=limit,
    )
    return Outcome(result.returncode, result.stdout, result.stderr)


def assert_refused(outcome: Outcome, *fragments: str, code: int = 2) -> str:
    """Exit ``code``, at most three lines in all, the last an ``error: ...`` line holding every fragment; no
    traceback. Returns the error line."""
    text = outcome.stdout + outcome.stderr
    assert "Traceback" not in text, text
    assert outcome.code == code, text
    assert 1 <= len(outcome.lines) <= 3, text
    line = outcome.lines[-1]
    assert line.startswith("error: "), text
    for fragment in fragments:
        assert fragment in line, line
    return line


class Untouched:
    """Digests of folders taken now, compared by :meth:`check`: earlier records and caches are byte for byte what
    they were, and no new entry appeared in them."""

    def __init__(self, *folders: Path) -> None:
        self.folders = folders
        self.before = [self._state(folder) for folder in folders]

    @staticmethod
    def _state(folder: Path) -> tuple[dict[str, str], set[str]]:
        names = {path.name for path in folder.iterdir()} if folder.is_dir() else set()
        return tree_digest(folder), names

    def check(self) -> None:
        for folder, before in zip(self.folders, self.before):
            assert self._state(folder) == before, f"{folder} changed"
