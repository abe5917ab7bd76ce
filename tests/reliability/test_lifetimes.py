"""No process of a run outlives its supervisor, whatever signal it got, and a record whose supervisor died is
reported as failed with the reason by the next command that reads it.

Processes are found by a marker: the run folder in their command line (launcher, ranks) or a variable in their
environment (CPM's tokenizer workers and multiprocessing's resource tracker name nothing of the run).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from reliability_support import (
    ENDLESS,
    MARKER_ENV,
    Bench,
    assert_short_message,
    benchbase_command,
    marked_processes,
    tree_digest,
    wait_until_gone,
)

from benchbase.record.atomic import atomic_write_json
from benchbase.record.events import read_events
from benchbase.record.rundir import RunDir
from benchbase.record.schema import LOCK_FILE
from benchbase.run.lock import Holder, RunLock, settle_orphans

pytestmark = pytest.mark.slow

#: A process of the run may outlive the signal that ended its supervisor by at most this long.
GONE_WITHIN_S = 10.0


def test_sigterm_while_tokenizing_exits_143_and_leaves_no_process_behind(
    bench: Bench, tmp_path: Path, demo_cache: Path
) -> None:
    """A cache without token windows, so preparation spawns CPM's tokenizer pool; SIGTERM arrives while it
    tokenizes. (The corpus and its text files are copied in: tokenizing is what this is about.)"""
    marker = uuid.uuid4().hex
    cache = Path(shutil.copytree(demo_cache, tmp_path / "cold-cache", ignore=shutil.ignore_patterns("windows")))
    console = tmp_path / "console.log"
    env = bench.env(BENCHBASE_CACHE_DIR=str(cache), **{MARKER_ENV: marker})
    with console.open("wb") as sink:
        proc = subprocess.Popen(
            benchbase_command(["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--out", str(tmp_path / "runs")]),
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=sink,
        )
    try:
        deadline = time.monotonic() + 240
        while "tokenize train.txt" not in console.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, console.read_text()
            time.sleep(0.05)
        assert len(marked_processes(marker)) >= 2, "the tokenizer pool is running"
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = proc.wait(timeout=GONE_WITHIN_S)
        left = wait_until_gone(marker, GONE_WITHIN_S - (time.monotonic() - signalled))
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not left, f"still running {GONE_WITHIN_S:g} s after SIGTERM: {[p.cmdline() for p in left]}"
    result = subprocess.CompletedProcess(proc.args, code, "", console.read_text())
    assert_short_message(result, 143, "stopped by SIGTERM while preparing the data of case cpm", "nothing was recorded")
    assert not (tmp_path / "runs").exists(), "no record of a run that never started"
    assert not list(cache.rglob("*.tmp")), "no half-written cache file"


def test_sigkill_of_the_supervisor_ends_its_ranks_and_the_report_then_says_it_failed(
    bench: Bench, tmp_path: Path
) -> None:
    """Two ranks through torchrun: the launcher's lifeline and each rank's watchdog both have to work."""
    out = tmp_path / "runs"
    live = bench.start("run", "cpm", "--vendor", "cpu", "--config", "1x2", *ENDLESS, out=out)
    live.wait_for("step", count=2)
    run = live.run_dir()
    assert len(marked_processes(str(run))) >= 3, "torchrun and two ranks"
    supervisor = live.proc.pid
    live.proc.kill()
    live.proc.wait()
    left = wait_until_gone(str(run), GONE_WITHIN_S)
    assert not left, f"still running {GONE_WITHIN_S:g} s after the supervisor died: {[p.cmdline() for p in left]}"
    assert RunDir(run).read_summary()["status"] == "running", "nobody was left to finish the record"

    report = bench.run("report", str(out), "--format", "json")
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr
    said = [line for line in report.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and f"recorded as failed: the supervisor died (benchbase run, pid {supervisor}" in said[0]
    assert json.loads(report.stdout)["skipped"] == [], "the run is reported, not skipped as still running"
    summary = RunDir(run).read_summary()
    assert summary["status"] == "failed" and summary["exit_code"] == 4
    assert summary["reason"].startswith(f"the supervisor died (benchbase run, pid {supervisor}")
    assert summary["steps"] and summary["steps"] >= 2, "the steps trained before the kill are counted"
    assert read_events(run / "events.jsonl")[-1]["key"] == "run_stop"
    settled = tree_digest(run)
    again = bench.run("report", str(out))
    assert again.returncode == 0 and "recorded as failed" not in again.stderr
    assert tree_digest(run) == settled, "a settled record is not touched again"


def orphan(interrupted_run: Path, copy_run: Callable[[Path], Path], holder: Holder) -> Path:
    """A copy of a real record made to look as its supervisor left it: ``running``, the lock naming ``holder``."""
    run = copy_run(interrupted_run)
    summary = json.loads((run / "summary.json").read_text())
    summary.update(status="running", exit_code=None, reason=None, ended_at=None)
    atomic_write_json(run / "summary.json", summary)
    (run / LOCK_FILE).write_text(json.dumps(vars(holder)))
    return run


def dead_holder() -> Holder:
    """A holder that really existed and is gone: a process started and ended here."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(child.pid).create_time()
    child.wait()
    return Holder(child.pid, started, Holder.me("run").host, "run")


def test_a_record_whose_lock_holder_is_gone_is_reported_as_failed_naming_it(
    bench: Bench, interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    holder = dead_holder()
    run = orphan(interrupted_run, copy_run, holder)
    report = bench.run("report", str(run.parent))
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr
    assert f"{run.name}: recorded as failed: the supervisor died (benchbase run, pid {holder.pid}" in report.stderr
    summary = RunDir(run).read_summary()
    assert summary["status"] == "failed" and "it was killed, or its machine stopped" in summary["reason"]


def test_a_reused_pid_is_not_mistaken_for_the_holder(
    bench: Bench, interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    """The lock names this very pid but another start time: the process it names is gone, whoever has the pid."""
    me = Holder.me("run")
    run = orphan(interrupted_run, copy_run, Holder(os.getpid(), me.started - 1000, me.host, "run"))
    report = bench.run("report", str(run.parent))
    assert report.returncode == 0 and f"pid {os.getpid()}" in report.stderr, report.stderr
    assert RunDir(run).read_summary()["status"] == "failed"


@contextlib.contextmanager
def held_lock(run: Path) -> Iterator[None]:
    """The run's lock held by this process, its file still naming the dead holder: only the lock says "alive"."""
    with (run / LOCK_FILE).open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.mark.parametrize("alive", ["lock held", "lock names a live process"])
def test_a_record_whose_supervisor_lives_is_left_running(
    bench: Bench, interrupted_run: Path, copy_run: Callable[[Path], Path], alive: str
) -> None:
    """A run in progress holds its lock; a copy of a record in progress names a process that still runs. Neither
    is settled: the report lists it as still running, and leaves it as it is."""
    run = orphan(interrupted_run, copy_run, dead_holder() if alive == "lock held" else Holder.me("run"))
    with held_lock(run) if alive == "lock held" else contextlib.nullcontext():
        digest = tree_digest(run)
        report = bench.run("report", str(run.parent), "--format", "json")
        assert report.returncode == 0 and "recorded as failed" not in report.stderr, report.stderr
        skipped = json.loads(report.stdout)["skipped"]
        assert [entry["reason"] for entry in skipped] == ["still running (or the supervisor was killed)"]
        assert tree_digest(run) == digest


def test_a_resume_records_the_death_of_the_last_attempt_before_it_continues(
    interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    """What ``run --resume`` does first once it holds the lock (in-process: the continuing run is
    ``test_resume.py``'s)."""
    holder = dead_holder()
    run = orphan(interrupted_run, copy_run, holder)
    with RunLock.acquire(run, "resume") as lock:
        assert lock.previous == holder
        reason = lock.settle_orphan()
        assert reason is not None and f"pid {holder.pid}" in reason
        assert lock.settle_orphan() is None, "settled once"
    stops = [e for e in read_events(run / "events.jsonl") if e["key"] == "run_stop"]
    assert stops[-1]["value"] == "failed" and stops[-1]["metadata"]["reason"] == reason
    assert RunDir(run).read_summary()["status"] == "failed"


def test_whoever_killed_the_supervisor_records_how_the_run_ended(
    interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    """The watchdog that killed a supervisor stuck past its --timeout settles the record as ``timeout``, with its own
    reason, not as an unexplained death (benchbase/run/watchdog.py)."""
    run = orphan(interrupted_run, copy_run, dead_holder())
    reason = "the supervisor was killed by its watchdog: it outlived its --timeout"
    assert settle_orphans([run], ending=("timeout", reason)) == [(run, reason)]
    summary = RunDir(run).read_summary()
    assert (summary["status"], summary["exit_code"], summary["reason"]) == ("timeout", 5, reason)
    assert read_events(run / "events.jsonl")[-1]["value"] == "timeout"
