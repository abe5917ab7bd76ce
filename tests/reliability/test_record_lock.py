"""One writer per record: ``run`` and ``run --resume`` hold an exclusive lock on their run folder, the report never
writes into run folders, and ``--resume`` refuses the options it could not honour instead of dropping them."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from reliability_support import Bench, assert_short_message, benchbase_command, tree_digest

from benchbase.record.events import read_events
from benchbase.record.rundir import RunDir
from benchbase.run.lock import RunLock, read_holder


def resume_args(run: Path, *extra: str) -> list[str]:
    return ["run", "cpm", "--vendor", "cpu", "--resume", str(run), *extra]


def test_a_second_resume_of_a_run_being_resumed_is_refused_and_the_record_holds_one_attempt(
    bench: Bench, tmp_path: Path, interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    run = copy_run(interrupted_run)
    with (tmp_path / "first.log").open("wb") as console:
        first = subprocess.Popen(benchbase_command(resume_args(run)), cwd=tmp_path, env=bench.env(),
                                 stdout=console, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while (holder := read_holder(run)) is None or holder.pid != first.pid:
            assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()
            time.sleep(0.1)
        second = bench.run(*resume_args(run))
        assert_short_message(second, 2, f"{run} is in use by benchbase resume, pid {first.pid}", "wait until")
        assert first.wait(timeout=300) == 3, (tmp_path / "first.log").read_text()
    finally:
        if first.poll() is None:
            first.kill()
    keys = [event["key"] for event in read_events(run / "events.jsonl")]
    assert keys.count("resume") == 1, "one resumed attempt, not two"
    assert keys.count("run_start") == 2 and keys.count("run_stop") == 2, "the first attempt and the one resume"
    summary = RunDir(run).read_summary()
    assert summary["status"] == "not_converged" and summary["steps"] == 20


def test_a_resume_of_a_folder_whose_lock_is_held_is_refused_naming_the_holder(
    bench: Bench, interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    run = copy_run(interrupted_run)
    with RunLock.acquire(run, "run"):
        digest = tree_digest(run)
        result = bench.run(*resume_args(run))
        assert_short_message(result, 2, f"{run} is in use by benchbase run, pid ", "a run folder has one writer")
        assert tree_digest(run) == digest


@pytest.mark.parametrize(("extra", "named"), [
    (["--set", "lr=0.1"], "--set"),
    (["--preset", "official"], "--preset"),
    (["--out", "elsewhere"], "--out"),
    (["--repeat", "2"], "--repeat"),
], ids=["set", "preset", "out", "repeat"])
def test_resume_refuses_options_it_cannot_honour(
    bench: Bench, tmp_path: Path, interrupted_run: Path, copy_run: Callable[[Path], Path], extra: list[str],
    named: str,
) -> None:
    run = copy_run(interrupted_run)
    digest = tree_digest(run.parent)
    result = bench.run(*resume_args(run, *extra))
    assert_short_message(result, 2, f"--resume {run} continues the run", f"so {named} cannot apply", "drop them")
    assert tree_digest(run.parent) == digest, "the record (and its folder of runs) is as it was"
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("where", ["summary of the run read", "folder of runs read", "run folder not read"])
def test_the_report_never_writes_into_run_records(
    bench: Bench, tmp_path: Path, finished_run: Path, copy_run: Callable[[Path], Path], where: str
) -> None:
    run = copy_run(finished_run)
    other = Path(shutil.copytree(finished_run, tmp_path / "other" / finished_run.name))
    read, output = {
        "summary of the run read": (run.parent, run / "summary.json"),
        "folder of runs read": (run.parent, run.parent / "table.csv"),
        "run folder not read": (run.parent, other / "logs" / "table.md"),
    }[where]
    digests = tree_digest(tmp_path)
    result = bench.run("report", str(read), "--format", "csv", "--output", str(output))
    assert_short_message(result, 2, f"--output {output} is inside the", "never writes into run records")
    assert tree_digest(tmp_path) == digests


def test_the_report_still_writes_where_it_may(bench: Bench, tmp_path: Path, finished_run: Path) -> None:
    output = tmp_path / "reports" / "table.csv"
    output.parent.mkdir()
    digest = tree_digest(finished_run)
    result = bench.run("report", str(finished_run.parent), "--format", "csv", "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert "cpm" in output.read_text(), "the table was written"
    assert tree_digest(finished_run) == digest


def test_timeout_given_to_a_resume_bounds_it(
    bench: Bench, interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    """``--timeout`` is not dropped on ``--resume``: it bounds the new attempt from the command's start (here it
    passes before anything is touched)."""
    run = copy_run(interrupted_run)
    digest = tree_digest(run)
    result = bench.run(*resume_args(run, "--timeout", "0.001"))
    assert_short_message(result, 5, "the run exceeded its --timeout of 0.001 s while", "nothing was recorded")
    assert tree_digest(run) == digest
