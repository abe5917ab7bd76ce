"""``benchbase verify``: a real record verifies; each figure edited alone, and each raw file changed, is named.

One real demo run (1x1, telemetry every half second) is recorded once; every test works on its own copy. The command
is run as a user runs it, in a subprocess; the per-figure edits call :func:`benchbase.verify.record.verify_run`
directly, since there is one per field of the summary.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchbase.config.resolve import config_hash
from benchbase.record import schema
from benchbase.record.manifest import MANIFEST_SCHEMA
from benchbase.registry.plugins import load_checked_registry
from benchbase.verify.record import verify_run

REPO = Path(__file__).resolve().parents[2]
RUN = ["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", "max_steps=12", "--set", "log_interval=2",
       "--set", "telemetry_interval_s=0.5"]
#: What no other file of the record repeats: verify takes it from the summary (docs/records.md, "What verify
#: guarantees"); a manifest still names its edit.
TAKEN_ON_TRUST = {"repeat_group", "repeat_index", "main_run_id", "rendezvous", "telemetry_errors"}
#: The supervisor's own CPU time and its end-to-end clock are written nowhere else either (e2e_s only has a lower
#: bound in the log), but the figures computed from them are recomputed, so an edit is named by those.
NAMED_BY = {"harness.supervisor_cpu_s": "harness.cpu_s", "windows.e2e_s": "throughput.fps_e2e"}


def benchbase(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENCHBASE_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", "from benchbase.cli import main; main()", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real demo run's folder, as the run left it."""
    root = tmp_path_factory.mktemp("verify")
    result = benchbase(*RUN, "--out", str(root / "runs"), cwd=root, cache=root / "cache")
    assert result.returncode in (0, 3), result.stdout + result.stderr
    (folder,) = (root / "runs").iterdir()
    return folder


@pytest.fixture
def record(recorded: Path, tmp_path: Path) -> Path:
    """This test's own copy of the record."""
    return Path(shutil.copytree(recorded, tmp_path / recorded.name, symlinks=True))


def findings(folder: Path) -> list[str]:
    return [str(finding) for finding in verify_run(folder, load_checked_registry().case).findings]


def edit_json(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_record_as_the_run_left_it_verifies_with_its_manifest(record: Path) -> None:
    manifest = json.loads((record / schema.MANIFEST_FILE).read_text())
    assert manifest["schema"] == MANIFEST_SCHEMA
    assert {"summary.json", "events.jsonl", "telemetry.csv", "config.yaml", "env.json"} <= set(manifest["files"])
    assert "run.lock" not in manifest["files"]
    result = benchbase("verify", str(record.parent), cwd=record.parent, cache=record.parent / "cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{record.name}: verified" in result.stdout
    assert "note" not in result.stdout


def summary_leaves(summary: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """Every place in the summary that holds one value, as a path of keys."""
    for name, value in summary.items():
        if isinstance(value, dict):
            for key, inner in value.items():
                if not isinstance(inner, (dict, list)):
                    yield name, key
        elif not isinstance(value, list):
            yield (name,)


def changed(value: Any) -> Any:
    """A different value of the same kind (a different kind where the value was null)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1 if math.isfinite(value) else 1.0
    if isinstance(value, str):
        return value + "x"
    return 12345.0


def test_every_figure_of_the_summary_edited_alone_is_named(recorded: Path, tmp_path: Path) -> None:
    summary = json.loads((recorded / schema.SUMMARY_FILE).read_text())
    places = [place for place in summary_leaves(summary) if place[-1] not in TAKEN_ON_TRUST]
    assert len(places) > 40  # every field and every key of the summary's objects
    unnamed = []
    for place in places:
        copy = Path(shutil.copytree(recorded, tmp_path / "-".join(place) / recorded.name))

        def change(data: dict[str, Any], place: tuple[str, ...] = place) -> None:
            holder = data
            for key in place[:-1]:
                holder = holder[key]
            holder[place[-1]] = changed(holder[place[-1]])

        edit_json(copy / schema.SUMMARY_FILE, change)
        found = findings(copy)
        dotted = NAMED_BY.get(".".join(place), ".".join(place))
        # The manifest names the changed file in any case; the figure itself must be named too, or (for the
        # status and its exit code, which the summary's own check ties together) the summary refused.
        if not any(line.startswith(f"{dotted}:") or line.startswith(f"{schema.SUMMARY_FILE}:") for line in found):
            unnamed.append((dotted, found))
    assert [place for place, _ in unnamed] == [], unnamed


def test_a_dropped_event_is_named(record: Path) -> None:
    lines = (record / schema.EVENTS_FILE).read_text().splitlines(keepends=True)
    kept = [line for line in lines if not (json.loads(line)["key"] == "step" and json.loads(line)["step"] == 4)]
    (record / schema.EVENTS_FILE).write_text("".join(kept))
    found = findings(record)
    assert "events.jsonl: attempt 1: no step event at step 4 (one is written every 2 steps)" in found
    assert any(line.startswith("manifest.json: events.jsonl is") for line in found)


def test_a_shifted_timestamp_is_named(record: Path) -> None:
    lines = (record / schema.EVENTS_FILE).read_text().splitlines()
    events = [json.loads(line) for line in lines]
    index = next(i for i, event in enumerate(events) if event["key"] == "eval" and event["step"] == 12)
    events[index]["time_ms"] -= 3_600_000
    (record / schema.EVENTS_FILE).write_text("".join(json.dumps(event) + "\n" for event in events))
    assert any(f"event {index + 1} (eval) is stamped" in line for line in findings(record))


def test_a_changed_learning_rate_in_the_config_is_named(record: Path) -> None:
    config = record / schema.CONFIG_FILE
    text = config.read_text()
    assert "  lr: 0.002\n" in text
    config.write_text(text.replace("  lr: 0.002\n", "  lr: 0.02\n"))
    found = findings(record)
    assert "config.yaml: its values do not match its config_hash (edited after the run started)" in found


def test_an_eval_cut_from_the_log_leaves_the_cadence_and_the_metric_unbacked(record: Path) -> None:
    lines = (record / schema.EVENTS_FILE).read_text().splitlines(keepends=True)
    last_eval = max(i for i, line in enumerate(lines) if json.loads(line)["key"] == "eval")
    (record / schema.EVENTS_FILE).write_text("".join(lines[:last_eval] + lines[last_eval + 1:]))
    found = findings(record)
    assert any(line.startswith("final_metric: the summary says") for line in found)
    assert any("no evaluation at step 12" in line for line in found)


def test_cpu_load_that_misses_the_train_window_is_named_even_without_a_manifest(record: Path) -> None:
    """The host's contention is a share over the train window; rows from before it would give a share of nothing
    (here every row but two is cut, and those two are moved a minute before the window)."""
    (record / schema.MANIFEST_FILE).unlink()
    cpu_load = record / schema.CPU_LOAD_FILE
    header, *rows = cpu_load.read_text().splitlines()
    start = next(json.loads(line) for line in (record / schema.EVENTS_FILE).read_text().splitlines()
                 if json.loads(line)["key"] == "windows")["metadata"]["train_start_ms"]
    early = [",".join([str(start - 60_000 + i), *row.split(",")[1:]]) for i, row in enumerate(rows[:2])]
    cpu_load.write_text("\n".join([header, *early]) + "\n")
    found = findings(record)
    assert any(line.startswith("cpu_load.csv: no rows near the start of the train span") for line in found), found


def test_a_truncated_copy_an_added_file_and_a_missing_file_are_named_by_the_manifest(record: Path) -> None:
    env = record / schema.ENV_FILE
    env.write_bytes(env.read_bytes()[:-10])
    (record / "notes.txt").write_text("added later")
    (record / "logs" / "rank0.log").unlink()
    found = findings(record)
    assert any(line.startswith("manifest.json: env.json is") and "truncated or changed" in line for line in found)
    assert "manifest.json: notes.txt is not in the manifest (added after the run ended)" in found
    assert "manifest.json: logs/rank0.log is in the manifest but missing (an incomplete copy?)" in found


def test_a_manifest_that_points_outside_the_record_is_refused_without_reading_there(record: Path) -> None:
    outside = record.parent / "secret.txt"
    outside.write_text("not the record's")
    edit_json(record / schema.MANIFEST_FILE, lambda m: m["files"].update(
        {"../secret.txt": {"size": 15, "sha256": "0" * 64}}))
    found = findings(record)
    assert any("lists a path outside the record ('../secret.txt')" in line for line in found)


def test_a_record_without_a_manifest_verifies_and_says_so(record: Path) -> None:
    (record / schema.MANIFEST_FILE).unlink()
    verdict = verify_run(record, load_checked_registry().case)
    assert verdict.verified
    assert verdict.notes[0].startswith("manifest.json missing")


def test_a_schema_1_record_verifies_and_says_what_it_could_not_check(record: Path) -> None:
    (record / schema.MANIFEST_FILE).unlink()

    def to_schema_1(summary: dict[str, Any]) -> None:
        summary["schema"] = 1
        summary["final_token_accuracy"] = summary.pop("final_extras")["token_accuracy"]
        del summary["initial_extras"]

    edit_json(record / schema.SUMMARY_FILE, to_schema_1)
    verdict = verify_run(record, load_checked_registry().case)
    assert verdict.findings == ()
    assert any(note.startswith("summary.json is schema 1") for note in verdict.notes)
    assert any("initial_extras" in note and "not checked" in note for note in verdict.notes)

    edit_json(record / schema.SUMMARY_FILE, lambda s: s.update(final_token_accuracy=0.99))
    assert any(line.startswith("final_extras.token_accuracy:") for line in findings(record))


def test_an_unofficial_config_claimed_official_is_named(record: Path) -> None:
    """A config whose immutable keys differ from the preset's, with its hash made to match, still says official:
    the case's own definition of the workload names the key."""
    path = record / schema.CONFIG_FILE
    config = yaml.safe_load(path.read_text())
    config["values"]["seq_length"] = 32
    config["config_hash"] = config_hash(config["values"])
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    edit_json(record / schema.SUMMARY_FILE, lambda s: s.update(config_hash=config["config_hash"]))
    found = findings(record)
    assert any(line.startswith("official: claimed, but immutable keys differ from preset demo: seq_length")
               for line in found)


def test_bad_paths_are_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = benchbase("verify", str(tmp_path / "nowhere"), cwd=tmp_path, cache=tmp_path / "cache")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = benchbase("verify", str(tmp_path / "empty"), cwd=tmp_path, cache=tmp_path / "cache")
    assert empty.returncode == 2
    assert "holds no run record" in empty.stderr


def test_a_record_that_does_not_verify_exits_3_with_one_line_per_finding(record: Path) -> None:
    edit_json(record / schema.SUMMARY_FILE, lambda s: s["throughput"].update(p_train=1e6))
    result = benchbase("verify", str(record), cwd=record.parent, cache=record.parent / "cache")
    assert result.returncode == 3
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{record.name}: throughput.p_train: the summary says 1e+06") for line in lines)
    assert lines[-1] == "0 of 1 record(s) verified"


def test_report_verify_marks_a_row_whose_record_does_not_verify_in_every_format(record: Path) -> None:
    edit_json(record / schema.SUMMARY_FILE, lambda s: s["throughput"].update(p_train=1e6))
    runs = record.parent

    def report(*args: str) -> str:
        result = benchbase("report", str(runs), *args, cwd=runs, cache=runs / "cache")
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    (row,) = json.loads(report("--format", "json", "--verify"))["rows"]
    assert row["values"]["verified"] is False
    assert row["values"]["verify_finding"].startswith("manifest.json: summary.json is")
    assert row["cells"]["Configuration"].startswith("[unverified] ")
    markdown = report("--format", "md", "--verify")
    assert "[unverified] a run of the row does not verify" in markdown and record.name in markdown
    (line,) = csv.DictReader(io.StringIO(report("--format", "csv", "--verify")))
    assert line["verified"] == "false" and line["verify_finding"].startswith("manifest.json:")
    report("--format", "html", "--verify", "--output", str(runs.parent / "report.html"))
    assert '<span class="badge unverified">unverified</span>' in (runs.parent / "report.html").read_text()
    unchecked = json.loads(report("--format", "json"))["rows"][0]
    assert unchecked["values"]["verified"] is None and "[unverified]" not in unchecked["cells"]["Configuration"]


@pytest.mark.parametrize("hostile", ["fifo", "symlink", "huge"])
def test_a_hostile_file_in_a_record_is_a_finding_never_a_hang_or_a_read_elsewhere(record: Path, hostile: str) -> None:
    """A FIFO would block a read forever, a link would read the verifier's own files, a huge file its memory: each
    is one finding naming the file (the record layer's opening rules, benchbase/record/files.py)."""
    events = record / schema.EVENTS_FILE
    events.unlink()
    if hostile == "fifo":
        os.mkfifo(events)
    elif hostile == "symlink":
        events.symlink_to("/etc/passwd")
    else:
        with open(events, "wb") as handle:
            handle.truncate(1 << 40)  # sparse: a terabyte on paper, nothing on disk
    result = subprocess.run(
        [sys.executable, "-c", "from benchbase.cli import main; main()", "verify", str(record)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert any(line.startswith(f"{record.name}: events.jsonl:") for line in result.stdout.splitlines()), result.stdout
    by_manifest = {"fifo": "manifest.json: events.jsonl is not a regular file",
                   "symlink": "manifest.json: events.jsonl is not a regular file",
                   "huge": f"manifest.json: events.jsonl is {1 << 40} bytes, the manifest says"}[hostile]
    assert any(line.startswith(f"{record.name}: {by_manifest}") for line in result.stdout.splitlines()), result.stdout
