"""Full and read-only disks, for the runs folder (``--out``), a run to resume and the prepared-data cache.

Each disk is a small tmpfs the test mounts (root only; CI runs these tests as root, elsewhere they are skipped with
the reason). A disk that cannot take a run is refused before anything is created, in one line naming it; a disk that
fills while a run trains ends that run as ``failed`` with "no space left on device writing <path>", with the
record finished (the run folder's reserve, see :mod:`benchbase.record.disk_space`); earlier records and caches on the same
disk are left byte for byte as they were.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from reliability_support import (
    ENDLESS,
    Bench,
    assert_short_message,
    fill_disk,
    outcome_line,
    remount_read_only,
    tmpfs,
    tree_digest,
)

from benchbase.record.disk_space import MIN_FREE_BYTES, RecordUnwritable
from benchbase.record.events import EventLog, read_events
from benchbase.record.rundir import RunDir
from benchbase.record.schema import RESERVE_FILE
from benchbase.record.telemetry_file import TelemetryWriter

pytestmark = pytest.mark.slow

SHORT = ["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "max_steps=3"]
MIN_MIB = f"at least {MIN_FREE_BYTES // 2**20} MiB"


def earlier_record(finished_run: Path, folder: Path) -> tuple[Path, dict[str, str]]:
    """A copy of a finished record in ``folder`` and its digest, to prove later that nothing touched it."""
    copy = Path(shutil.copytree(finished_run, folder / finished_run.name))
    return copy, tree_digest(copy)


def test_a_full_out_disk_is_refused_before_anything_is_created(
    bench: Bench, tmp_path: Path, finished_run: Path, demo_cache: Path
) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        runs = disk / "runs"
        earlier, digest = earlier_record(finished_run, runs)
        fill_disk(disk)
        cache = tree_digest(demo_cache)
        result = bench.run(*SHORT, "--out", str(runs))
        assert_short_message(result, 2, f"only 0.0 MiB free on the disk of --out {runs}", MIN_MIB, "another --out")
        assert [p.name for p in runs.iterdir()] == [earlier.name], "no run folder was made"
        assert tree_digest(earlier) == digest and tree_digest(demo_cache) == cache


def test_a_disk_that_fills_mid_run_ends_the_run_as_failed_with_a_finished_record(
    bench: Bench, tmp_path: Path, finished_run: Path
) -> None:
    with tmpfs(tmp_path / "disk", f"{MIN_FREE_BYTES // 2**20 + 8}m") as disk:
        earlier, digest = earlier_record(finished_run, disk / "earlier")
        live = bench.start("run", "cpm", "--vendor", "cpu", *ENDLESS, "--set", "telemetry_interval_s=0.5",
                           out=disk / "runs")
        live.wait_for("step", count=2)
        fill_disk(disk)
        filled = time.monotonic()
        code, output, ended = live.finish(timeout=120)
        assert code == 4, output
        assert ended - filled < 30, f"the run took {ended - filled:.0f} s to notice the full disk"
        assert "Traceback" not in output
        run = live.run_dir()
        summary = RunDir(run).read_summary()
        assert summary["status"] == "failed" and summary["exit_code"] == 4
        assert summary["reason"].startswith("no space left on device writing ") and str(run) in summary["reason"]
        assert outcome_line(output).startswith(f"failed: {summary['reason']}")
        assert summary["steps"] and summary["steps"] >= 2, "what was trained before the disk filled is counted"
        assert read_events(run / "events.jsonl")[-1]["key"] == "run_stop"
        assert not (run / RESERVE_FILE).exists() and not list(run.rglob("*.tmp"))
        assert tree_digest(earlier) == digest


@pytest.mark.parametrize("out", ["runs", "not/yet/made"])
def test_a_read_only_out_is_refused_in_one_line(bench: Bench, tmp_path: Path, finished_run: Path, out: str) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        earlier, digest = earlier_record(finished_run, disk / "runs")
        remount_read_only(disk)
        result = bench.run(*SHORT, "--out", str(disk / out))
        assert_short_message(result, 2, f"--out {disk / out} is on a read-only file system", "choose another --out")
        assert tree_digest(earlier) == digest


def test_resume_on_a_full_disk_is_refused_and_leaves_the_record_as_it_was(
    bench: Bench, tmp_path: Path, interrupted_run: Path
) -> None:
    with tmpfs(tmp_path / "disk", "32m") as disk:
        run = Path(shutil.copytree(interrupted_run, disk / "runs" / interrupted_run.name))
        fill_disk(disk)
        digest = tree_digest(run)
        result = bench.run("run", "cpm", "--vendor", "cpu", "--resume", str(run))
        assert_short_message(result, 2, f"free on the disk of the run to resume {run}", MIN_MIB)
        assert tree_digest(run) == digest


@pytest.mark.parametrize("disk_state", ["full", "read-only"])
def test_a_cache_disk_that_cannot_be_written_fails_preparation_in_one_line(
    bench: Bench, tmp_path: Path, finished_run: Path, disk_state: str
) -> None:
    """A cold cache under a full or read-only HOME: the run stops before it has a record, the cache's other
    contents stay, and no half-written file is left."""
    runs = tmp_path / "runs"
    earlier, digest = earlier_record(finished_run, runs)
    with tmpfs(tmp_path / "home", "1m") as home:
        (home / "earlier-cache.bin").write_bytes(b"prepared before")
        if disk_state == "read-only":
            remount_read_only(home)
        cache_before = tree_digest(home)
        result = bench.run(*SHORT, "--out", str(runs), BENCHBASE_CACHE_DIR=str(home / "cache"))
        what = "no space left on device writing" if disk_state == "full" else "read-only file system writing"
        assert_short_message(result, 2, what, str(home), "--cache-dir")
        assert {k: v for k, v in tree_digest(home).items() if k in cache_before} == cache_before
        assert not list(home.rglob("*.tmp")), "no half-written cache file"
    assert [p.name for p in runs.iterdir()] == [earlier.name] and tree_digest(earlier) == digest


def test_a_warm_cache_on_a_read_only_disk_is_still_used(bench: Bench, tmp_path: Path, demo_cache: Path) -> None:
    """Preparation writes only what is missing, so a read-only HOME whose cache is complete is no problem."""
    with tmpfs(tmp_path / "home", "16m") as home:
        shutil.copytree(demo_cache, home / "cache")
        remount_read_only(home)
        result = bench.run("prepare", "cpm", "--preset", "demo", BENCHBASE_CACHE_DIR=str(home / "cache"))
        assert result.returncode == 0, result.stderr
        assert '"cache": "hit"' in result.stdout


def test_telemetry_on_a_full_disk_names_the_file_and_closes_without_raising(tmp_path: Path) -> None:
    """The original fault: the supervisor died in the telemetry file's close. Rows are written unbuffered now, so
    the write that meets the full disk fails, naming the file, and the close has nothing left to fail on."""
    from benchbase.contract import SensorReading

    with tmpfs(tmp_path / "disk", "1m") as disk:
        writer = TelemetryWriter(disk / "telemetry.csv", node=0)
        fill_disk(disk)
        with pytest.raises(RecordUnwritable, match=f"no space left on device writing {disk / 'telemetry.csv'}"):
            for _ in range(1000):
                writer.write([SensorReading(device=0, power_w=100.0)], 1.0, time.time() * 1000)
        writer.close()


def test_an_event_log_on_a_full_disk_names_the_file(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        log = EventLog(disk / "events.jsonl", rank=0)
        fill_disk(disk)
        with pytest.raises(RecordUnwritable, match=f"no space left on device writing {disk / 'events.jsonl'}"):
            for step in range(1000):
                log.emit("step", 1.0, step=step, padding="x" * 4096)
        log.close()
