"""The CPU's memory reading is the ranks' resident sets, the ranks found among the run's processes by their command
line: a process first seen before it runs the worker (between its fork and its exec, or in a wrapper that execs it)
is a rank once it does."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from benchbase.run import telemetry
from benchbase.run.process_tree import PROCESS_REFRESH_S

#: A child that runs something else for a moment, then becomes the "worker" under the same pid.
BECOMES_WORKER = (
    "import os, sys, time; time.sleep(0.5); "
    "os.execv(sys.executable, [sys.executable, '-m', 'timeit', '-n', '1', 'import time; time.sleep(30)'])"
)


def test_a_process_listed_before_it_runs_the_worker_is_read_once_it_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "WORKER_MODULE", "timeit")
    child = subprocess.Popen([sys.executable, "-c", BECOMES_WORKER])
    try:
        memory = telemetry.RankMemory(os.getpid())
        assert memory.largest_gib() is None  # listed, but not running the worker yet
        deadline = time.monotonic() + 4 * PROCESS_REFRESH_S
        reading = None
        while reading is None and time.monotonic() < deadline:
            time.sleep(0.2)
            reading = memory.largest_gib()
        assert reading is not None and reading > 0
    finally:
        child.kill()
        child.wait()
