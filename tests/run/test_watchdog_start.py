"""The watchdog every run and dry run starts costs a bare interpreter until it has to kill (issue 22, point 3).

Each ``benchbase run`` (``--dry-run`` included) starts :class:`benchbase.run.watchdog.Watchdog` and waits for it to
exit; started as ``python -m benchbase.run.watchdog`` it imported the benchbase package first, which doubled its CPU
time and ran beside the command's own start. These tests run its real command line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchbase.run.watchdog import GRACE_ENV, Watchdog


def test_a_watchdog_that_is_never_needed_imports_nothing_of_benchbase(tmp_path: Path) -> None:
    executable, *arguments = Watchdog.command(pid=1, seconds_left=None)
    # Its pipe closed at once: the supervisor ended in order, so it exits 0 without acting.
    done = subprocess.run([executable, "-X", "importtime", *arguments], stdin=subprocess.DEVNULL, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    assert "select" in imported, "the import log was read"
    assert [name for name in imported if name.startswith(("benchbase", "psutil"))] == []


def test_a_supervisor_past_its_deadline_is_killed_and_the_watchdog_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(GRACE_ENV, "0.2")
    supervisor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        command = Watchdog.command(supervisor.pid, seconds_left=0.0)
        watchdog = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert watchdog.stdin is not None
        # A folder that holds no run: settling it finds nothing to settle, and must not fail the watchdog.
        watchdog.stdin.write(f"record {tmp_path / 'no-run-here'}\n")
        watchdog.stdin.flush()
        # The pipe stays open, as a stuck supervisor holds it: only the deadline ends the wait.
        assert supervisor.wait(timeout=60) == -9
        assert watchdog.wait(timeout=60) == 0
        stderr = watchdog.stderr.read() if watchdog.stderr else ""
        watchdog.stdin.close()
    finally:
        supervisor.kill()
    assert "was killed by its watchdog: it outlived its --timeout by 0.2 s" in stderr
    assert "Traceback" not in stderr
