"""Drive the real ``benchbase`` command in subprocesses, as a user (or a crashing machine) would.

Shared by the fault, bad-input, security and concurrency tests. It lives in a module of its own, not in
``conftest.py``, because every test folder has a module called ``conftest`` and an import by that name would reach
whichever was loaded last.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from benchbase.record.events import read_events

REPO = Path(__file__).resolve().parents[2]
SHARED_CPM = REPO.parent / "shared" / "cpm"

#: A demo run that never converges and never spends its budget on its own: fault tests end it themselves.
ENDLESS = [
    "--preset", "demo", "--unofficial", "--set", "target=1.01", "--set", "max_steps=1000000", "--set", "log_interval=1",
]


#: The source of a throwaway vendor that works on the host, for the plugins of the reliability tests to
#: subclass: each test writes it, then its own misbehaving subclasses, into an installed distribution.
HOST_VENDOR = '''
import torch
from benchbase.contract import DeviceInfo, PrecisionPolicy, Vendor
from benchbase.hookspecs import hookimpl


class HostVendor(Vendor):
    description = "throwaway test vendor"
    ranks_share_devices = True

    def discover(self):
        return [DeviceInfo(index=0, model="host")]

    def setup_device(self, local_rank):
        return torch.device("cpu")

    def precision_policy(self, requested):
        return PrecisionPolicy(name="fp32", label="FP32", autocast_dtype=None, flops_dtype="fp32")

'''


def benchbase_command(args: list[str]) -> list[str]:
    """The console entry point, run by this interpreter so the test venv's packages are the ones used."""
    return [sys.executable, "-c", "from benchbase.cli import main; main()", *args]


@dataclass
class LiveRun:
    """A ``benchbase run`` in progress, with what a fault test needs to hurt it and then read its record."""

    proc: subprocess.Popen[bytes]
    out: Path
    #: The command's stdout and stderr: a file, not a pipe, so a run that prints a lot never blocks on a full pipe.
    console: Path

    def run_dir(self, timeout: float = 120) -> Path:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [p for p in self.out.iterdir() if p.is_dir()] if self.out.is_dir() else []
            if found:
                assert len(found) == 1, found
                return found[0]
            self._still_running()
            time.sleep(0.1)
        raise AssertionError(f"no run directory appeared under {self.out} within {timeout} s")

    def wait_for(self, key: str, count: int = 1, timeout: float = 180) -> list[dict[str, Any]]:
        """Block until the run's event log holds ``count`` events ``key``; returns those events."""
        events_path = self.run_dir() / "events.jsonl"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in read_events(events_path) if e["key"] == key] if events_path.exists() else []
            if len(found) >= count:
                return found
            self._still_running()
            time.sleep(0.1)
        raise AssertionError(f"fewer than {count} {key!r} events within {timeout} s")

    def workers(self) -> dict[int, psutil.Process]:
        """The rank processes (``python -m benchbase.train.worker``) below the supervisor, by global rank."""
        found: dict[int, psutil.Process] = {}
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                cmdline = child.cmdline()
                if "benchbase.train.worker" in cmdline and "torch.distributed.run" not in cmdline:
                    found[int(child.environ().get("RANK", "0"))] = child
            except psutil.NoSuchProcess:
                continue
        return found

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def finish(self, timeout: float = 180) -> tuple[int, str, float]:
        """Wait for the supervisor to exit; returns its exit code, its output and when it exited."""
        code = self.proc.wait(timeout=timeout)
        return code, self.output(), time.monotonic()

    def output(self) -> str:
        return self.console.read_text(errors="replace")

    def _still_running(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"benchbase exited early with {self.proc.returncode}:\n{self.output()}")


class Bench:
    """Runs ``benchbase`` in a subprocess with one shared prepared-data cache, from a scratch working folder."""

    def __init__(self, cache_dir: Path, cwd: Path) -> None:
        self.cache_dir = cache_dir
        self.cwd = cwd
        self.started: list[LiveRun] = []

    def env(self, **extra: str) -> dict[str, str]:
        # The terminal width is left as it is: a long outcome line must stay one line at any width.
        env = {**os.environ, "BENCHBASE_CACHE_DIR": str(self.cache_dir), "PYTHONUNBUFFERED": "1"}
        env.pop("COLUMNS", None)
        env.update(extra)
        return env

    def run(self, *args: str, timeout: float = 300, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            benchbase_command(list(args)), cwd=self.cwd, env=self.env(**extra_env), capture_output=True, text=True,
            timeout=timeout,
        )

    def start(self, *args: str, out: Path, **extra_env: str) -> LiveRun:
        """Start ``benchbase run ... --out OUT`` without waiting; the caller ends it (or lets it end)."""
        console = self.cwd / f"console-{len(self.started)}.log"
        with console.open("wb") as sink:
            proc = subprocess.Popen(
                benchbase_command([*args, "--out", str(out)]), cwd=self.cwd, env=self.env(**extra_env),
                stdout=sink, stderr=subprocess.STDOUT,
            )
        live = LiveRun(proc, out, console)
        self.started.append(live)
        return live

    def kill_leftovers(self) -> None:
        """Kill runs a failed test left behind, ranks first (they live in their own session)."""
        for live in self.started:
            if live.proc.poll() is None:
                for child in psutil.Process(live.proc.pid).children(recursive=True):
                    child.kill()
                live.proc.kill()
                live.proc.wait()


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the sha256 of its bytes: equal digests mean nothing was touched."""
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


#: Short, deterministic and checkpointed: 20 steps, a checkpoint every 5, evaluations before and after training.
RESUMABLE = [
    "--preset", "demo", "--unofficial", "--set", "target=1.01", "--set", "max_steps=20", "--set", "log_interval=1",
    "--set", "checkpoint_every=5", "--set", "eval_interval_samples=100000",
]


def interrupted_after_first_checkpoint(demo_cache: Path, out: Path, *args: str) -> Path:
    """A demo run of ``RESUMABLE`` plus ``args`` stopped by SIGINT after its first checkpoint: what ``--resume``
    continues."""
    live = Bench(demo_cache, out).start("run", "cpm", "--vendor", "cpu", *RESUMABLE, *args, out=out / "runs")
    try:
        live.wait_for("checkpoint")
    finally:
        live.interrupt()
    code, output, _ = live.finish()
    assert code == 130, output
    return live.run_dir()


# ---------------------------------------------------------------------------------------------------------------
# Hostile machines: full or read-only disks, processes that must not outlive a run
# ---------------------------------------------------------------------------------------------------------------

#: A progress line of preparation (``tokenize train.txt: 0/20000``): printed on stderr, not part of a message.
_PROGRESS = re.compile(r"^[\w .()-]+: \d+(/\d+)?$")
#: Environment variable a test gives a command so that every process it starts can be found by it (a tokenizer
#: worker's command line names nothing of the run).
MARKER_ENV = "BENCHBASE_TEST_MARKER"


def message_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """What a command said on stderr, progress lines left out."""
    return [line for line in result.stderr.splitlines() if line.strip() and not _PROGRESS.match(line.strip())]


def assert_short_message(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """Exit ``code``, no traceback, at most three lines on stderr of which one is ``error: ...`` holding every
    fragment; returns that line."""
    output = result.stdout + result.stderr
    assert result.returncode == code, f"exit {result.returncode}, expected {code}:\n{output}"
    assert "Traceback" not in output, output
    lines = message_lines(result)
    assert 1 <= len(lines) <= 3, lines
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, lines
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def outcome_line(output: str) -> str:
    """The one line ``benchbase run`` ends a run with: ``<status>: <reason> -> <run dir>``."""
    found = [line for line in output.splitlines() if re.match(r"^(converged|not_converged|failed|timeout|interrupted): ",
                                                               line)]
    assert len(found) == 1, output
    return found[0]


def marked_processes(marker: str) -> list[psutil.Process]:
    """Live processes whose command line holds ``marker`` (a run folder) or whose environment has
    :data:`MARKER_ENV` set to it."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid == os.getpid() or process.status() == psutil.STATUS_ZOMBIE:
                continue
            if marker in " ".join(process.cmdline()) or process.environ().get(MARKER_ENV) == marker:
                found.append(process)
        except psutil.Error:
            continue
    return found


def wait_until_gone(marker: str, within_s: float) -> list[psutil.Process]:
    """The marked processes still alive ``within_s`` seconds from now (an empty list as soon as there are none)."""
    deadline = time.monotonic() + within_s
    alive = marked_processes(marker)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = marked_processes(marker)
    return alive


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``4m``) mounted at ``path`` for the test; skipped, with the reason, where it cannot be
    mounted (not root; CI runs these tests as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs the reliability tests as root)")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def fill_disk(folder: Path) -> Path:
    """Write zeros into ``folder/filler`` until the disk refuses more; the disk is then full."""
    filler = folder / "filler"
    block = bytes(64 * 1024)
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    with open(filler, "ab", buffering=0) as handle, contextlib.suppress(OSError):  # what is left of a last block
        while handle.write(b"\0" * 512):
            pass
    return filler
