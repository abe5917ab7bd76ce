"""The supervisor sleeps until the launcher exits, a signal arrives or its deadline passes, and no longer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from benchbase.run.launcher_wait import LauncherWait


def sleeper(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])


def test_the_launcher_exiting_ends_the_wait_long_before_its_limit() -> None:
    launcher = sleeper(0.5)
    with LauncherWait(launcher) as wait:
        started = time.monotonic()
        wait.wait(60)
        assert time.monotonic() - started < 30
    assert launcher.wait(timeout=5) == 0


def test_a_signal_ends_the_wait_and_its_handler_still_runs() -> None:
    launcher = sleeper(60)
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: received.append(signum))
    try:
        with LauncherWait(launcher) as wait:
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
            started = time.monotonic()
            wait.wait(60)
            assert time.monotonic() - started < 30
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
        launcher.kill()
        launcher.wait()


def test_with_nothing_happening_the_wait_lasts_its_limit() -> None:
    launcher = sleeper(60)
    try:
        with LauncherWait(launcher) as wait:
            started = time.monotonic()
            wait.wait(0.3)
            assert time.monotonic() - started >= 0.25
    finally:
        launcher.kill()
        launcher.wait()


def test_the_previous_signal_wakeup_fd_is_restored() -> None:
    launcher = sleeper(0)
    before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before)
    with LauncherWait(launcher):
        pass
    assert signal.set_wakeup_fd(before) == before
    launcher.wait()
