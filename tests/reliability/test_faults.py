"""Faults in a two-rank CPU run (torchrun + gloo): a rank killed outright, Ctrl-C, and the run's own time limit.

Each ends the whole run promptly, with its own status and exit code, and leaves a record that the strict summary
reader accepts, holding the events and telemetry written up to the fault.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from reliability_support import ENDLESS, Bench

from benchbase.record.events import read_events
from benchbase.record.rundir import RunDir
from benchbase.record.schema import STATUS_EXIT_CODES
from benchbase.run.watch import GRACE_S
from benchbase.record.telemetry_file import read_telemetry
from benchbase.registry.plugins import load_checked_registry
from benchbase.verify.record import verify_run

pytestmark = pytest.mark.slow

TWO_RANKS = ["run", "cpm", "--vendor", "cpu", "--config", "1x2", *ENDLESS, "--set", "telemetry_interval_s=0.5"]


def assert_valid_record(run: Path, status: str) -> dict[str, Any]:
    summary = RunDir(run).read_summary()  # validates against summary schema 1
    assert summary["status"] == status and summary["exit_code"] == STATUS_EXIT_CODES[status]
    assert summary["ended_at"] and summary["world_size"] == 2
    events = read_events(run / "events.jsonl")
    assert events[-1]["key"] == "run_stop" and events[-1]["value"] == status
    assert not list(run.rglob("*.tmp")), "no half-written file is left behind"
    return summary


def still_alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_all_gone(processes: list[psutil.Process]) -> None:
    alive = [p for p in processes if still_alive(p)]
    assert not alive, f"left running: {alive}"


@pytest.mark.parametrize("victim", [0, 1], ids=["rank0-the-event-writer", "rank1"])
def test_sigkill_of_one_rank_ends_the_whole_run_within_60_s_as_failed(
    bench: Bench, tmp_path: Path, victim: int
) -> None:
    live = bench.start(*TWO_RANKS, out=tmp_path / "runs")
    steps_before = len(live.wait_for("step", count=3))
    workers = live.workers()
    assert sorted(workers) == [0, 1]
    launcher_tree = psutil.Process(live.proc.pid).children(recursive=True)
    killed_at_ms = time.time() * 1000
    killed = time.monotonic()
    os.kill(workers[victim].pid, signal.SIGKILL)
    code, output, ended = live.finish(timeout=120)
    assert ended - killed < 60, f"the run took {ended - killed:.1f} s to end after the kill"
    assert code == STATUS_EXIT_CODES["failed"] == 4, output
    run = live.run_dir()
    summary = assert_valid_record(run, "failed")
    assert f"rank {victim} was killed by SIGKILL" in summary["reason"]
    assert_all_gone(launcher_tree)
    events = read_events(run / "events.jsonl")
    assert len([e for e in events if e["key"] == "step" and e["time_ms"] < killed_at_ms]) >= steps_before
    rows = read_telemetry(run / "telemetry.csv")
    before = [r for r in rows if r["time_ms"] < killed_at_ms]
    assert len(before) >= 2 and all(r["rss_gib"] for r in before), "telemetry up to the fault is kept"


def test_sigint_to_benchbase_stops_both_ranks_and_records_interrupted(bench: Bench, tmp_path: Path) -> None:
    live = bench.start(*TWO_RANKS, out=tmp_path / "runs")
    live.wait_for("step", count=3)
    launcher_tree = psutil.Process(live.proc.pid).children(recursive=True)
    signalled = time.monotonic()
    live.interrupt()
    code, output, ended = live.finish(timeout=120)
    assert code == STATUS_EXIT_CODES["interrupted"] == 130, output
    assert ended - signalled < GRACE_S, "the ranks left on their own, before the supervisor had to kill them"
    run = live.run_dir()
    summary = assert_valid_record(run, "interrupted")
    assert summary["reason"] == "stopped by SIGINT"
    assert summary["steps"] and summary["steps"] >= 3, "the steps done before the interrupt are counted"
    stop = [e for e in read_events(run / "events.jsonl") if e["key"] == "train_stop"]
    assert stop and stop[-1]["value"] == "interrupted", "rank 0 closed its windows before leaving"
    assert_all_gone(launcher_tree)


def test_run_past_its_timeout_is_stopped_and_recorded_as_timeout(bench: Bench, tmp_path: Path) -> None:
    live = bench.start(*TWO_RANKS, "--timeout", "12", out=tmp_path / "runs")
    live.wait_for("step")
    launcher_tree = psutil.Process(live.proc.pid).children(recursive=True)
    code, output, _ = live.finish(timeout=180)
    assert code == STATUS_EXIT_CODES["timeout"] == 5, output
    run = live.run_dir()
    summary = assert_valid_record(run, "timeout")
    assert verify_run(run, load_checked_registry().case).findings == (), "a timed-out record proves its figures"
    assert summary["steps"], "the run trained before its time ran out"
    assert summary["windows"]["e2e_s"] < 12 + GRACE_S, "the ranks left on their own, before they had to be killed"
    assert_all_gone(launcher_tree)


def test_every_status_has_its_own_exit_code() -> None:
    assert len(set(STATUS_EXIT_CODES.values())) == len(STATUS_EXIT_CODES)
    assert 2 not in STATUS_EXIT_CODES.values(), "2 is reserved for bad input"
