"""The report survives what it reads and what it writes.

Each entry puts a hostile record beside a copy of a real one (or points ``--output`` somewhere hostile) and runs
``benchbase report``: a record it cannot use is skipped with its reason and the real run is still reported (exit 0);
an ``--output`` it cannot write is one ``error:`` line (exit 2); text from a record reaches a CSV or Markdown file
inert (no spreadsheet formula, no HTML). The runs folder is byte for byte what it was, and no traceback appears
(docs/reliability.md, "The report survives what it reads and writes").
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from refusal_support import Outcome, Untouched, assert_refused, run_in_process


@pytest.fixture
def runs(tmp_path: Path, finished_run: Path) -> Path:
    folder = tmp_path / "runs"
    shutil.copytree(finished_run, folder / finished_run.name)
    return folder


def real_summary(runs: Path) -> tuple[str, dict[str, Any]]:
    """The copied real record: the one folder whose summary is the run's own (the others are made from it)."""
    for folder in sorted(runs.iterdir()):
        try:
            summary = json.loads((folder / "summary.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict) and summary.get("run_id") == folder.name:
            return folder.name, summary
    raise AssertionError(f"no real record in {runs}")


def sibling(runs: Path, name: str, text: str) -> None:
    (runs / name).mkdir()
    (runs / name / "summary.json").write_text(text)


def edited(runs: Path, name: str, replace: tuple[str, str] = ("", ""), **changes: Any) -> None:
    """A copy of the real summary under ``runs/name`` (its run id ``hostile-<name>``, so the real one stays the only
    one named as its folder), with ``changes`` merged (one level into dicts) and then the text ``replace``d."""
    _, summary = real_summary(runs)
    summary["run_id"] = f"hostile-{name}"
    for key, value in changes.items():
        summary[key] = {**summary[key], **value} if isinstance(value, dict) else value
    sibling(runs, name, json.dumps(summary).replace(*replace))


def report(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, runs: Path, *args: str) -> Outcome:
    monkeypatch.chdir(runs.parent)
    outcome = run_in_process(capsys, monkeypatch, "report", str(runs), *args)
    assert "Traceback" not in outcome.stdout + outcome.stderr
    return outcome


ABSURD = {"p_train": 1e308, "p_core": 1e308, "p_whole": -1e308, "fps_e2e": 5e-324}


@pytest.mark.parametrize("fmt", ["table", "md", "csv", "json", "html"])
def test_a_summary_with_p_train_1e308_does_not_take_the_report_down(
    runs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    real, _ = real_summary(runs)
    edited(runs, "absurd", throughput=ABSURD)
    untouched = Untouched(runs)
    outcome = report(capsys, monkeypatch, runs, "--format", fmt, "--detail")
    assert outcome.code == 0, outcome.stderr
    if fmt in ("csv", "json"):
        assert real in outcome.stdout and "hostile-absurd" in outcome.stdout
    untouched.check()


def test_repeats_that_all_hold_1e308_aggregate_without_overflow(
    runs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(3):
        edited(runs, f"repeat-{index}", throughput=ABSURD, repeat_group="g", repeat_index=index)
    untouched = Untouched(runs)
    outcome = report(capsys, monkeypatch, runs, "--format", "csv", "--detail")
    assert outcome.code == 0, outcome.stderr
    assert "hostile-repeat-0 hostile-repeat-1 hostile-repeat-2" in outcome.stdout
    untouched.check()


UNREADABLE = [
    pytest.param(lambda runs: edited(runs, "hostile", ("31415926", "9" * 5000), steps=31415926),
                 "field 'steps' is inf (a number), expected an integer", id="steps of 5000 digits"),
    pytest.param(lambda runs: sibling(runs, "hostile", "[" * 100_000 + "]" * 100_000),
                 "nested too deeply to be a summary", id="summary nested 100000 deep"),
    pytest.param(lambda runs: sibling(runs, "hostile", "{}" + " " * (2 << 20)),
                 "summary.json is larger than 1 MiB", id="summary of 2 MiB"),
]


@pytest.mark.parametrize(("plant", "reason"), UNREADABLE)
def test_a_summary_the_report_cannot_use_is_skipped_with_its_reason(
    runs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    plant: Callable[[Path], None], reason: str,
) -> None:
    real, _ = real_summary(runs)
    plant(runs)
    untouched = Untouched(runs)
    outcome = report(capsys, monkeypatch, runs, "--format", "json")
    assert outcome.code == 0, outcome.stderr
    result = json.loads(outcome.stdout)
    assert [run["run_id"] for row in result["rows"] for run in row["runs"]] == [real]
    (skipped,) = result["skipped"]
    assert skipped["path"].endswith("hostile") and reason in skipped["reason"], skipped
    untouched.check()


def read_only_path(tmp_path: Path) -> Path:
    """A path no one may create a file at: under sysfs for root (whom permissions do not stop), else a folder
    without write permission."""
    if os.geteuid() == 0:
        if not Path("/sys/kernel").is_dir():
            pytest.skip("no sysfs to stand for a read-only path")
        return Path("/sys/kernel/benchbase-report.md")
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    return folder / "report.md"


OUTPUTS = [
    pytest.param(lambda tmp: tmp, ("is a folder", "name a file"), id="--output naming a folder"),
    pytest.param(lambda tmp: tmp / "missing" / "report.md", ("the folder of --output", "does not exist"),
                 id="--output in a folder that does not exist"),
    pytest.param(read_only_path, ("cannot write --output", "choose a writable path"), id="--output read-only"),
]


@pytest.mark.parametrize(("target", "fragments"), OUTPUTS)
def test_an_output_that_cannot_be_written_is_one_line(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    target: Callable[[Path], Path], fragments: tuple[str, ...],
) -> None:
    output = target(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir(exist_ok=True)
    untouched = Untouched(runs)
    outcome = report(capsys, monkeypatch, runs, "--format", "md", "--output", str(output))
    assert_refused(outcome, *fragments)
    untouched.check()


HOSTILE_TEXT = {"device_model": '=HYPERLINK("http://x","y")|<script>alert(1)</script>', "sdk": "@SUM(A1)",
                "reason": "+cmd|' /C calc'!A0"}


def test_csv_cells_that_a_spreadsheet_would_run_arrive_as_text(
    runs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    edited(runs, "text", throughput={"p_whole": -1.5}, **HOSTILE_TEXT)
    untouched = Untouched(runs)
    outcome = report(capsys, monkeypatch, runs, "--format", "csv")
    assert outcome.code == 0, outcome.stderr
    rows = list(csv.DictReader(io.StringIO(outcome.stdout)))
    (row,) = [row for row in rows if row["run_ids"] == "hostile-text"]
    assert row["device_model"] == "'" + HOSTILE_TEXT["device_model"] and row["sdk"] == "'@SUM(A1)"
    assert row["p_whole"] == "-1.5", "a negative number stays a number"
    starts = ("=", "+", "-", "@", "\t", "\r")
    cells = [cell for row in rows for cell in row.values() if cell]
    assert not [cell for cell in cells if cell.startswith(starts) and not is_number(cell)], cells
    untouched.check()


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_markdown_carries_no_html_and_no_extra_cells(
    runs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    edited(runs, "text", **HOSTILE_TEXT)
    sibling(runs, "odd`<img src=x onerror=alert(1)>`name", "{")
    untouched = Untouched(runs)
    outcome = report(capsys, monkeypatch, runs, "--format", "md", "--detail")
    assert outcome.code == 0, outcome.stderr
    assert "<script>" not in outcome.stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in outcome.stdout
    table = outcome.stdout.split("\n\n")[0].splitlines()
    header, (row,) = table[0], [line for line in table if "HYPERLINK" in line]
    assert row.count(" | ") == header.count(" | "), "a pipe from a record split a cell"
    odd = runs / "odd`<img src=x onerror=alert(1)>`name"
    assert f"- `` {odd} ``: " in outcome.stdout, "a path with backticks sits in a longer code fence"
    untouched.check()


def test_html_carries_no_html_from_a_record(
    runs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    edited(runs, "text", **HOSTILE_TEXT)
    untouched = Untouched(runs)
    outcome = report(capsys, monkeypatch, runs, "--format", "html", "--detail")
    assert outcome.code == 0, outcome.stderr
    assert "<script>alert(1)" not in outcome.stdout
    untouched.check()
