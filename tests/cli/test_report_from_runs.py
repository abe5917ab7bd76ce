"""The standard table computed from real recorded runs (three converged repeats, a run that spent its budget, an
interrupted run, and a two-rank run), each column checked against the value computed here from the same records."""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchbase.events import read_events
from conftest import benchbase_env, run_benchbase

HEADER = ("| Convergence criteria | Configuration | Performance | Accuracy | Power (W) | Scalability "
          "| Memory utilization (G) | Stability |")


def _interrupted_run(cache_dir: Path, runs: Path) -> None:
    command = [sys.executable, "-c", "from benchbase.cli import main; main()", "run", "cpm", "--vendor", "cpu",
               "--preset", "demo", "--set", "log_interval=1", "--out", str(runs)]
    proc = subprocess.Popen(command, cwd=runs, env=benchbase_env(cache_dir), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        events = [e for run in runs.iterdir() if run.is_dir()
                  for e in read_events(run / "events.jsonl") if e["key"] == "step"]
        if events:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130


@pytest.fixture(scope="module")
def recorded(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("report-runs")
    _interrupted_run(cache_dir, runs)
    repeats = run_benchbase(["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--repeat", "3", "--out",
                             str(runs)], cache_dir, runs)
    assert repeats.returncode == 0, repeats.stdout + repeats.stderr
    for topology in ("1x1", "1x2"):
        short = run_benchbase(["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--config", topology, "--set",
                               "max_steps=6", "--out", str(runs)], cache_dir, runs)
        assert short.returncode == 3, short.stdout + short.stderr
    return runs


def summaries(runs: Path) -> list[dict]:
    return [json.loads((run / "summary.json").read_text()) for run in sorted(runs.iterdir())]


def test_every_column_of_both_rows_matches_the_records(recorded: Path) -> None:
    result = run_benchbase(["report", str(recorded), "--format", "json"], recorded, recorded)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped"] == []
    rows = {row["group"]["world_size"]: row for row in report["rows"]}
    runs = summaries(recorded)
    one = [s for s in runs if s["world_size"] == 1]
    assert sorted(s["status"] for s in one) == ["converged"] * 3 + ["interrupted", "not_converged"]
    converged = [s for s in one if s["status"] == "converged"]

    row = rows[1]
    cells, values = row["cells"], row["values"]
    assert cells["Convergence criteria"] == "0.96"
    sdk = converged[0]["sdk"]
    assert cells["Configuration"] == f"{sdk}, bs:16, 1x, FP32"
    p_train = statistics.mean(s["throughput"]["p_train"] for s in converged)
    assert values["p_train"] == pytest.approx(p_train)
    accuracy = statistics.mean(s["final_metric"] for s in converged)
    assert values["final_metric"] == pytest.approx(accuracy)
    assert list(values["final_extras"]) == list(converged[0]["final_extras"]) == ["token_accuracy", "loss"], \
        "CPM's extras, by the names the case gives them"
    for name, value in values["final_extras"].items():
        assert value == pytest.approx(statistics.mean(s["final_extras"][name] for s in converged)), name
    assert cells["Power (W)"].startswith("n/a"), "no RAPL here: power unavailable, never 0"
    memory = statistics.mean(s["memory"]["peak_gib_per_device"] for s in converged)
    assert values["peak_memory_gib_per_device"] == pytest.approx(memory)
    assert cells["Memory utilization (G)"] == f"{memory:.1f}*1"
    assert values["stability"] == pytest.approx(3 / 4), "3 of 4 counted runs converged; the interrupted one is excluded"
    assert cells["Stability"] == "0.75 (3/4)"
    assert cells["Scalability"] == "1 (baseline)"

    two = [s for s in runs if s["world_size"] == 2]
    assert len(two) == 1
    row2 = rows[2]
    assert row2["cells"]["Configuration"] == f"{sdk}, bs:32, 2x, FP32"
    assert row2["values"]["p_train"] == pytest.approx(two[0]["throughput"]["p_train"])
    assert row2["values"]["scalability"] == pytest.approx(two[0]["throughput"]["p_train"] / (2 * p_train))
    assert row2["cells"]["Stability"] == "0 (0/1)"


def test_markdown_has_the_seed_header(recorded: Path) -> None:
    result = run_benchbase(["report", str(recorded), "--format", "md"], recorded, recorded)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert HEADER in lines
    assert lines[lines.index(HEADER) + 1] == "|---|---|---|---|---|---|---|---|"
