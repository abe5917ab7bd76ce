"""A run's status comes from evidence about training, never from what happened to raise (root cause 5).

A monitor plugin that raises, a console that stops taking output (``| head -1``, stdout on a full disk), a closed
terminal (SIGHUP), a disk that turns read-only or fills at a checkpoint, a resume on another machine, a checkpoint of
the wrong shapes and a record of an earlier benchbase: each case checks the exit code, the one line it is told in,
that no traceback shows, that the record says what really happened (or is untouched), and that no process is left.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pluggy
import pytest
import torch
from reliability_support import (
    ENDLESS,
    Bench,
    assert_short_message,
    benchbase_command,
    fill_disk,
    outcome_line,
    tmpfs,
    tree_digest,
    wait_until_gone,
)

from benchbase.contract import hookspecs
from benchbase.contract.hookspecs import PROJECT, hookimpl
from benchbase.record.disk_space import MIN_FREE_BYTES, RecordUnwritable
from benchbase.record.events import read_events
from benchbase.record.rundir import RunDir
from benchbase.run.console_guard import GuardedStream, GuardedView
from benchbase.train.checkpoint import save_file
from benchbase.train.observers import OBSERVER_ERROR_EVENT, Observers

SHORT = ["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "max_steps=4", "--set", "log_interval=2"]


def record_of(out: Path) -> tuple[Path, dict]:
    (run,) = out.iterdir()
    return run, RunDir(run).read_summary()


# -- observers ------------------------------------------------------------------------------------------------------
MONITOR = textwrap.dedent("""
    from benchbase.hookspecs import hookimpl

    @hookimpl
    def benchbase_step(step, samples, loss, samples_per_s):
        raise RuntimeError("dashboard unreachable")

    @hookimpl
    def benchbase_run_end(status, summary):
        raise ValueError("monitor broke at the end")
""")


@pytest.fixture
def broken_monitor(tmp_path: Path) -> Path:
    """A site folder holding an installed distribution whose observer hooks raise (its metadata written by hand: the
    entry point is all the registry reads)."""
    site = tmp_path / "site"
    (site / "brokenmonitor.py").parent.mkdir(parents=True)
    (site / "brokenmonitor.py").write_text(MONITOR)
    meta = site / "benchbase_test_monitor-0.0.1.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: benchbase-test-monitor\nVersion: 0.0.1\n")
    (meta / "entry_points.txt").write_text("[benchbase]\nmonitor = brokenmonitor\n")
    return site


def test_an_observer_that_raises_never_changes_the_status_and_is_recorded(
    bench: Bench, tmp_path: Path, broken_monitor: Path
) -> None:
    result = bench.run(*SHORT, "--out", str(tmp_path / "runs"), PYTHONPATH=str(broken_monitor))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    run, summary = record_of(tmp_path / "runs")
    assert summary["status"] == "not_converged" and summary["steps"] == 4
    errors = {(e["hook"], e["error"]) for e in summary["observer_errors"]}
    assert errors == {("benchbase_step", "RuntimeError: dashboard unreachable"),
                      ("benchbase_run_end", "ValueError: monitor broke at the end")}
    assert all("monitor" in e["plugin"] for e in summary["observer_errors"])
    recorded = [e for e in read_events(run / "events.jsonl") if e["key"] == OBSERVER_ERROR_EVENT]
    assert len(recorded) == 2, "a broken observer is recorded once, then no longer called"


def test_one_broken_observer_leaves_the_others_observing() -> None:
    seen: list[int] = []
    recorded: list[tuple] = []

    class Good:
        @hookimpl
        def benchbase_step(self, step: int) -> None:
            seen.append(step)

    class Bad:
        @hookimpl
        def benchbase_step(self, step: int) -> None:
            raise SystemExit(0)

    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(Good(), name="good")
    manager.register(Bad(), name="bad")
    observers = Observers(manager.hook, lambda *args, **kwargs: recorded.append((args, kwargs)))
    for step in (1, 2):
        observers.call("benchbase_step", step=step, samples=0, loss=1.0, samples_per_s=1.0)
    assert seen == [1, 2]
    assert recorded == [((OBSERVER_ERROR_EVENT, "bad"), {"hook": "benchbase_step", "error": "SystemExit: 0"})]


# -- the console ----------------------------------------------------------------------------------------------------
def test_a_closed_stdout_pipe_changes_nothing_recorded(bench: Bench, tmp_path: Path) -> None:
    """``benchbase run ... | head -1``: the reader goes away after the first line."""
    proc = subprocess.Popen(
        benchbase_command([*SHORT, "--out", str(tmp_path / "runs")]), cwd=tmp_path, env=bench.env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode(errors="replace")
    assert proc.wait(timeout=300) == 3, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert stderr.count("stdout stopped taking output (Broken pipe)") == 1
    assert record_of(tmp_path / "runs")[1]["status"] == "not_converged"


def test_stdout_on_a_full_disk_changes_nothing_recorded(bench: Bench, tmp_path: Path) -> None:
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(benchbase_command([*SHORT, "--out", str(tmp_path / "runs")]), cwd=tmp_path,
                              env=bench.env(), stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("stdout stopped taking output (No space left on device)") == 1
    assert record_of(tmp_path / "runs")[1]["status"] == "not_converged"


def test_a_live_view_that_raises_is_dropped_and_watching_goes_on() -> None:
    class Exploding:
        calls = 0

        def consume(self, events: list) -> None:
            Exploding.calls += 1
            raise OSError(5, "Input/output error")

    view = GuardedView(Exploding())
    view.consume([{"key": "step"}])
    view.consume([{"key": "step"}])
    assert view.failed and Exploding.calls == 1


def test_a_guarded_stream_swallows_the_first_failure_once_and_takes_everything_after() -> None:
    class Refusing(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    stream = GuardedStream(Refusing, "stdout")
    assert stream.write("first") == 5 and stream.write("second") == 6
    assert stream.lost == "Broken pipe"


# -- signals --------------------------------------------------------------------------------------------------------
def test_sighup_ends_the_run_interrupted_with_its_record_complete(bench: Bench, tmp_path: Path) -> None:
    live = bench.start("run", "cpm", "--vendor", "cpu", *ENDLESS, out=tmp_path / "runs")
    live.wait_for("step", count=2)
    run = live.run_dir()
    live.proc.send_signal(signal.SIGHUP)
    code, output, _ = live.finish(timeout=120)
    assert code == 130, output
    assert "Traceback" not in output
    summary = RunDir(run).read_summary()
    assert summary["status"] == "interrupted" and summary["reason"] == "stopped by SIGHUP"
    assert outcome_line(output).startswith("interrupted: stopped by SIGHUP")
    assert read_events(run / "events.jsonl")[-1]["key"] == "run_stop"
    assert not wait_until_gone(str(run), within_s=10)


# -- disks ----------------------------------------------------------------------------------------------------------
@contextmanager
def ext4_disk(path: Path, size_mib: int) -> Iterator[Callable[[], None]]:
    """A small ext4 filesystem mounted at ``path`` with ``errors=remount-ro``; yields a function that makes the kernel
    meet an error on it, after which it refuses every write, as a failing disk does (a plain ``mount -o remount,ro``
    is refused while a run holds files open for writing). Skipped, with the reason, where it cannot be made."""
    if os.geteuid() != 0 or shutil.which("mkfs.ext4") is None:
        pytest.skip("a loop-mounted ext4 disk needs root and mkfs.ext4 (CI has both)")
    image = path.with_suffix(".img")
    with open(image, "wb") as handle:
        handle.truncate(size_mib * 2**20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(image), str(path)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount an ext4 disk here: {mounted.stderr.strip()}")
    device = Path(subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(path)], capture_output=True, text=True,
                                 check=True).stdout.strip()).name

    def fail() -> None:
        Path(f"/sys/fs/ext4/{device}/trigger_fs_error").write_text("1")

    try:
        yield fail
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


def test_a_disk_turning_read_only_mid_run_is_the_reason_told(bench: Bench, tmp_path: Path) -> None:
    """The record cannot take the end any more: the console says why the run ended and what the next report will
    settle, and once the disk is mounted again the report settles it as failed."""
    disk = tmp_path / "disk"
    with ext4_disk(disk, MIN_FREE_BYTES // 2**20 + 32) as fail:
        live = bench.start("run", "cpm", "--vendor", "cpu", *ENDLESS, out=disk / "runs")
        live.wait_for("step", count=2)
        run = live.run_dir()
        fail()
        code, output, _ = live.finish(timeout=120)
        assert code == 4, output
        assert "Traceback" not in output
        line = outcome_line(output)  # the supervisor's check, or the telemetry write that met it first
        assert line.startswith("failed: ") and "read-only" in line and str(run) in line.split(" -> ")[0], line
        told = [line for line in output.splitlines() if "the record could not be finished" in line]
        assert len(told) == 1 and "benchbase report" in told[0] and "records it as failed" in told[0], output
        assert not wait_until_gone(str(run), within_s=10)
    subprocess.run(["mount", "-o", "loop", str(disk.with_suffix(".img")), str(disk)], check=True)
    try:
        report = bench.run("report", str(disk / "runs"))
        assert "Traceback" not in report.stdout + report.stderr
        assert RunDir(run).read_summary()["status"] == "failed"
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=False)


def test_a_full_disk_at_a_checkpoint_names_the_checkpoint(bench: Bench, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", f"{MIN_FREE_BYTES // 2**20 + 8}m") as disk:
        live = bench.start("run", "cpm", "--vendor", "cpu", *ENDLESS, "--set", "checkpoint_every=6",
                           out=disk / "runs")
        live.wait_for("step", count=2)
        run = live.run_dir()
        filler = fill_disk(disk)
        with open(filler, "r+b") as handle:  # room for the log lines, none for a checkpoint
            handle.truncate(max(filler.stat().st_size - 256 * 1024, 0))
        code, output, _ = live.finish(timeout=120)
        assert code == 4, output
        assert "Traceback" not in output
        summary = RunDir(run).read_summary()
        assert summary["status"] == "failed"
        assert "no space left on device writing checkpoint " in summary["reason"], summary["reason"]
        assert "unexpected pos" not in summary["reason"]
        assert not list(run.rglob("*.tmp")), "no half-written checkpoint"
        assert not wait_until_gone(str(run), within_s=10)


def test_a_checkpoint_write_the_disk_refuses_is_named_as_such(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        fill_disk(disk)
        with pytest.raises(RecordUnwritable, match=f"no space left on device writing checkpoint {disk / 'state.pt'}"):
            save_file(disk / "state.pt", {"weights": torch.zeros(100_000)})
        assert not list(disk.glob("*.tmp"))


# -- resume ---------------------------------------------------------------------------------------------------------
def test_a_resume_prepares_its_data_on_this_machine(
    bench: Bench, interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    """env.json's ``prepare`` facts name the machine the run started on; the resume trains on this one's."""
    run = copy_run(interrupted_run)
    env = json.loads((run / "env.json").read_text())
    env["prepare"] = {key: "/old-machine/cache/" + Path(str(value)).name if isinstance(value, str) else value
                      for key, value in env["prepare"].items()}
    (run / "env.json").write_text(json.dumps(env))
    resumed = bench.run("run", "cpm", "--vendor", "cpu", "--resume", str(run))
    assert resumed.returncode == 3, resumed.stdout + resumed.stderr
    assert RunDir(run).read_summary()["status"] == "not_converged"


def test_a_checkpoint_of_the_wrong_shapes_is_refused_before_the_record_is_touched(
    bench: Bench, interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    run = copy_run(interrupted_run)
    state_path = run / "checkpoint" / "state.pt"
    state = torch.load(state_path, weights_only=True)
    name = next(iter(state["workload"]["model"]))
    state["workload"]["model"][name] = torch.zeros(3, 3)
    torch.save(state, state_path)
    digest = tree_digest(run)
    result = bench.run("run", "cpm", "--vendor", "cpu", "--resume", str(run))
    assert_short_message(result, 2, f"checkpoint {state_path} does not fit the model of case cpm", name, "(3, 3)")
    assert tree_digest(run) == digest
    assert RunDir(run).read_summary()["status"] == "interrupted"


def test_a_schema_1_record_is_refused_for_its_schema_not_called_damaged(
    bench: Bench, interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    run = copy_run(interrupted_run)
    summary = json.loads((run / "summary.json").read_text())
    extras = summary.pop("final_extras") or {}
    del summary["initial_extras"]
    summary.update(schema=1, final_token_accuracy=extras.get("token_accuracy"))
    (run / "summary.json").write_text(json.dumps(summary))
    digest = tree_digest(run)
    result = bench.run("run", "cpm", "--vendor", "cpu", "--resume", str(run))
    line = assert_short_message(result, 2, "recorded by an earlier benchbase (summary schema 1)", "start the run again")
    assert "damaged" not in line
    assert tree_digest(run) == digest

