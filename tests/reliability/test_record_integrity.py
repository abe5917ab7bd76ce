"""Records are written atomically, and ``benchbase report`` reads past records that were truncated or hand-edited,
saying which it skipped and why."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from reliability_support import Bench

from benchbase.record.atomic import atomic_write_json
from benchbase.record.rundir import RunDir

#: A writer that replaces one JSON file as fast as it can, each version larger than a pipe buffer, so that a
#: non-atomic write would be caught half done.
WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from benchbase.record.atomic import atomic_write_json
    path = Path(sys.argv[1])
    version = 0
    while True:
        version += 1
        atomic_write_json(path, {"version": version, "payload": ["x" * 64] * 2000})
""")


def start_writer(path: Path) -> subprocess.Popen[bytes]:
    atomic_write_json(path, {"version": 0, "payload": []})
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path)])


def test_a_reader_never_sees_half_a_file_while_it_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    writer = start_writer(path)
    try:
        versions = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            versions.add(json.loads(path.read_text())["version"])  # raises on a torn file
    finally:
        writer.kill()
        writer.wait()
    assert len(versions) > 5, "the writer really was rewriting the file meanwhile"


def test_a_writer_killed_at_any_instant_leaves_a_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    for delay in (0.05, 0.13, 0.21, 0.37, 0.5):
        writer = start_writer(path)
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        assert isinstance(json.loads(path.read_text())["version"], int)
    assert all(p.name == "summary.json" or p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_a_failed_write_keeps_the_previous_summary_and_no_temp_file(
    finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = RunDir(Path(finished_run))
    summary = run.read_summary()
    target = RunDir(tmp_path)
    target.write_summary(summary)
    original = target.summary_path.read_bytes()

    def disk_full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        target.write_summary({**summary, "status": "failed", "exit_code": 4})
    assert target.summary_path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_a_finished_run_leaves_no_temporary_file(finished_run: Path) -> None:
    assert not [p for p in finished_run.rglob("*") if p.name.endswith(".tmp")]


def _damaged_copies(finished_run: Path, runs: Path) -> dict[str, str]:
    """Copies of a real record, each damaged one way; returns folder name -> the reason fragment expected."""
    text = (finished_run / "summary.json").read_text()
    good = json.loads(text)
    damage = {
        "truncated": (text[: len(text) // 2], "is not valid JSON"),
        "empty": ("", "is not valid JSON"),
        "not-utf8": (b"\xff\xfe{}", "cannot read summary.json"),
        "a-list": ("[1, 2]", ""),
        "unknown-status": ({**good, "status": "great"}, "status 'great' is not one of"),
        "field-removed": ({k: v for k, v in good.items() if k != "vendor"}, "lacks the field 'vendor'"),
        "wrong-type": ({**good, "steps": "many"}, "steps"),
        "still-running": ({**good, "status": "running", "exit_code": None}, "still running"),
        "copied-by-hand": (good, "also read from"),
    }
    expected = {}
    for name, (content, fragment) in damage.items():
        folder = runs / f"{good['run_id']}-{name}"
        folder.mkdir(parents=True)
        for item in finished_run.iterdir():
            if item.is_file():
                (folder / item.name).write_bytes(item.read_bytes())
        if isinstance(content, dict):
            # Each edited record keeps an id of its own, except the copy, whose point is the repeated id.
            content = json.dumps(content if name == "copied-by-hand" else {**content, "run_id": folder.name})
        (folder / "summary.json").write_bytes(content if isinstance(content, bytes) else content.encode())
        expected[folder.name] = fragment
    return expected


def test_report_skips_truncated_and_hand_edited_records_and_says_why(
    bench: Bench, finished_run: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    expected = _damaged_copies(finished_run, runs)
    good = runs / finished_run.name
    good.mkdir()
    for item in finished_run.iterdir():
        if item.is_file():
            (good / item.name).write_bytes(item.read_bytes())

    result = bench.run("report", str(runs), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    skipped = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert set(skipped) == set(expected), skipped
    for name, fragment in expected.items():
        assert fragment in skipped[name], (name, skipped[name])
    assert len(report["rows"]) == 1, "the intact record is still reported"

    table = bench.run("report", str(runs))
    assert table.returncode == 0, table.stderr
    assert f"skipped {len(expected)} record(s)" in table.stdout
