"""Runs started at the same moment into the same runs folder never share a directory, an event log or a record."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from reliability_support import Bench

from benchbase.record import rundir as records
from benchbase.record.events import read_events
from benchbase.record.rundir import RunDir

pytestmark = pytest.mark.slow

SHORT = ["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "max_steps=3", "--set", "log_interval=1"]


def test_two_runs_started_at_once_into_one_folder_keep_separate_complete_records(
    bench: Bench, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    first, second = bench.start(*SHORT, out=out), bench.start(*SHORT, out=out)
    for live in (first, second):
        code, output, _ = live.finish(timeout=240)
        assert code in (0, 3), output
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(runs) == 2
    for run in runs:
        summary = RunDir(run).read_summary()
        assert summary["run_id"] == run.name and summary["steps"] == 3
        events = read_events(run / "events.jsonl")
        starts = [e for e in events if e["key"] == "run_start"]
        assert [e["value"] for e in starts] == [run.name], "one run's events only"
        assert [e["key"] for e in events].count("run_stop") == 1
    report = bench.run("report", str(out), "--format", "json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["skipped"] == []


def test_run_ids_that_collide_are_redrawn_and_never_share_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight threads race to create a run folder; every thread's first id is the same one."""
    first_draw = threading.local()
    counter = iter(range(1, 1000))
    lock = threading.Lock()

    def colliding_id(case: str, vendor: str, nnodes: int, nproc: int) -> str:
        if not getattr(first_draw, "done", False):
            first_draw.done = True
            return f"20260101-000000-{case}-{vendor}-{nnodes}x{nproc}-000000"
        with lock:
            return f"20260101-000000-{case}-{vendor}-{nnodes}x{nproc}-{next(counter):06x}"

    monkeypatch.setattr(records, "new_run_id", colliding_id)
    start = threading.Barrier(8)
    made: list[Path] = []

    def create() -> None:
        start.wait()
        made.append(RunDir.create_unique(tmp_path, "cpm", "cpu", 1, 1).path)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 8 and len(set(made)) == 8
    assert sum(p.name.endswith("-000000") for p in made) == 1, "exactly one thread won the contested id"
