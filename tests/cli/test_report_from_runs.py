"""The standard table computed from real recorded runs (a --repeat 3 group, an interrupted run, a 1x1 and a 1x2 run
that spent their budget, all in one --out folder), each column checked against the value computed here from the
same records; the repeats' seeds, Stability per group, the 1x2 run's own Scalability and the CPU memory plot."""

from __future__ import annotations

import json
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from benchbase.record.events import read_events
from benchbase.report import formatting, load_runs
from benchbase.report.series import read_series
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
        # A run folder exists a moment before its event log does (config.yaml and env.json come first).
        events = [e for run in runs.iterdir() if (run / "events.jsonl").is_file()
                  for e in read_events(run / "events.jsonl") if e["key"] == "step"]
        if events:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130


@dataclass(frozen=True)
class Recorded:
    runs: Path
    #: What ``benchbase run --config 1x2`` printed, its own table included.
    two_rank_stdout: str


@pytest.fixture(scope="module")
def recorded(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    runs = tmp_path_factory.mktemp("report-runs")
    _interrupted_run(cache_dir, runs)
    repeats = run_benchbase(["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--repeat", "3", "--set",
                             "telemetry_interval_s=0.25", "--out", str(runs)], cache_dir, runs)
    assert repeats.returncode == 0, repeats.stdout + repeats.stderr
    printed = {}
    for topology in ("1x1", "1x2"):
        short = run_benchbase(["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--config", topology, "--set",
                               "max_steps=6", "--out", str(runs)], cache_dir, runs)
        assert short.returncode == 3, short.stdout + short.stderr
        printed[topology] = short.stdout
    return Recorded(runs, printed["1x2"])


def summaries(runs: Path) -> list[dict]:
    return [json.loads((run / "summary.json").read_text()) for run in sorted(runs.iterdir())]


def _report(recorded: Recorded) -> dict:
    result = run_benchbase(["report", str(recorded.runs), "--format", "json"], recorded.runs, recorded.runs)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped"] == []
    return report


def _row(report: dict, run_id: str) -> dict:
    return next(row for row in report["rows"] if run_id in [run["run_id"] for run in row["runs"]])


def _group(recorded: Recorded) -> list[dict]:
    return [s for s in summaries(recorded.runs) if s["repeat_group"] is not None]


def _contended(records: list[dict]) -> bool:
    """Whether other jobs took the CPUs from any of ``records`` (a shared CI host): Scalability then says so."""
    return any(s["host"]["contended"] for s in records)


def test_every_column_of_the_repeat_group_row_matches_the_records(recorded: Recorded) -> None:
    converged = _group(recorded)
    assert [s["status"] for s in converged] == ["converged"] * 3
    row = _row(_report(recorded), converged[0]["run_id"])
    cells, values = row["cells"], row["values"]
    assert cells["Convergence criteria"] == "0.96"
    first = converged[0]
    contended = _contended(converged) or any(s["host"]["oversubscribed"] for s in converged)
    marker = "[contended] " if contended else ""  # an official configuration on a busy host is no clean result
    assert cells["Configuration"] == f"{marker}cpm demo, cpu {first['device_model']}: {first['sdk']}, bs:16, 1x, FP32"
    assert cells["Performance"].endswith(" †") == contended
    assert values["contended"] == contended
    p_train = statistics.mean(s["throughput"]["p_train"] for s in converged)
    assert values["p_train"] == pytest.approx(p_train)
    assert values["p_train_min"] == min(s["throughput"]["p_train"] for s in converged)
    accuracy = statistics.mean(s["final_metric"] for s in converged)
    assert values["final_metric"] == pytest.approx(accuracy)
    assert list(values["final_extras"]) == list(first["final_extras"]) == ["token_accuracy", "loss"], \
        "CPM's extras, by the names the case gives them"
    for name, value in values["final_extras"].items():
        assert value == pytest.approx(statistics.mean(s["final_extras"][name] for s in converged)), name
    assert cells["Power (W)"].startswith("n/a"), "no RAPL here: power unavailable, never 0"
    memory = statistics.mean(s["memory"]["peak_gib_per_device"] for s in converged)
    total = statistics.mean(s["device_memory_total_gib"] for s in converged)
    assert values["peak_memory_gib_per_device"] == pytest.approx(memory)
    assert cells["Memory utilization (G)"] == f"{formatting.fixed(memory, 1)}/{formatting.fixed(total, 1)}*1"
    if _contended(converged):
        assert cells["Scalability"].startswith("n/a (contended: other processes used "), cells["Scalability"]
    else:
        assert cells["Scalability"] == "1 (baseline)"
    assert cells["Stability"] == "1 (3/3)"


def test_stability_is_per_repeat_group_and_says_how_many_runs_it_rests_on(recorded: Recorded) -> None:
    report = _report(recorded)
    by_status = {s["status"]: s["run_id"] for s in summaries(recorded.runs) if s["repeat_group"] is None}
    group = _group(recorded)
    assert _row(report, group[0]["run_id"])["cells"]["Stability"] == "1 (3/3)", \
        "the interrupted run and the short runs in the folder are not part of the group"
    assert _row(report, by_status["interrupted"])["cells"]["Stability"] == "n/a (every run interrupted)"
    short_one = next(s for s in summaries(recorded.runs) if s["status"] == "not_converged" and s["world_size"] == 1)
    assert _row(report, short_one["run_id"])["cells"]["Stability"] == "0 (0/1)"


def test_repeats_have_distinct_recorded_seeds_and_different_trajectories(recorded: Recorded) -> None:
    group = _group(recorded)
    assert [s["seed"] for s in group] == [1234, 1235, 1236], "the demo's seed, then seed + repeat index"
    assert len({s["repeat_group"] for s in group}) == 1 and [s["repeat_index"] for s in group] == [0, 1, 2]
    configs = [yaml.safe_load((recorded.runs / s["run_id"] / "config.yaml").read_text()) for s in group]
    assert [config["values"]["seed"] for config in configs] == [1234, 1235, 1236]
    assert [config["sources"]["seed"] for config in configs] == [
        "preset:demo", "preset:demo + repeat 1", "preset:demo + repeat 2"]
    losses = [tuple(e["value"] for e in read_events(recorded.runs / s["run_id"] / "events.jsonl")
                    if e["key"] == "step")[:5] for s in group]
    assert len(set(losses)) == 3, f"each repeat trains its own trajectory: {losses}"
    seeds = [run["seed"] for run in _row(_report(recorded), group[0]["run_id"])["runs"]]
    assert seeds == [1234, 1235, 1236]


def test_a_two_rank_run_reports_scalability_from_the_one_rank_runs_in_its_folder(
    recorded: Recorded, tmp_path: Path
) -> None:
    two = next(s for s in summaries(recorded.runs) if s["world_size"] == 2)
    assert two["host"]["oversubscribed"] is False and two["host"]["threads"] <= two["host"]["cpus"]
    row = _row(_report(recorded), two["run_id"])
    assert row["cells"]["Configuration"].endswith(f"{two['sdk']}, bs:32, 2x, FP32")
    assert row["cells"]["Stability"] == "0 (0/1)"
    printed = recorded.two_rank_stdout
    assert "no 1x1 run" not in printed and "1 (baseline)" not in printed, "its own row only, with the folder's 1x1s"
    assert row["cells"]["Scalability"].split(" (")[0] in printed, "the run's own table says what the report says"
    if _contended([two, *_group(recorded)]):
        # Other jobs took the CPUs (a shared host), which the cells say. The same records, as if the host had been
        # quiet, must still give the ratio against the converged 1x1 runs of the folder.
        folder = tmp_path / "quiet"
        shutil.copytree(recorded.runs, folder)
        for summary_file in folder.glob("*/summary.json"):
            summary = json.loads(summary_file.read_text())
            summary["host"].update(contended=False, others_cpu_share=0.0)
            summary_file.write_text(json.dumps(summary))
        row = _row(_report(Recorded(folder, printed)), two["run_id"])
    baseline = statistics.mean(s["throughput"]["p_train"] for s in _group(recorded))  # the converged 1x1 runs
    assert row["values"]["scalability"] == pytest.approx(two["throughput"]["p_train"] / (2 * baseline))
    assert row["cells"]["Scalability"].endswith(" from 1 + 3 runs)")


def test_markdown_has_the_seed_header(recorded: Recorded) -> None:
    result = run_benchbase(["report", str(recorded.runs), "--format", "md"], recorded.runs, recorded.runs)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert HEADER in lines
    assert lines[lines.index(HEADER) + 1] == "|---|---|---|---|---|---|---|---|"


def test_the_cpu_memory_plot_is_the_runs_own_and_peaks_at_the_tables_figure(recorded: Recorded) -> None:
    first = _group(recorded)[0]
    (run,) = load_runs([recorded.runs / first["run_id"]]).runs
    series = read_series(run)
    (points,) = series.memory_gib.values()
    plotted = max(value for _, value in points)
    table = first["memory"]["peak_gib_per_device"]
    assert formatting.fixed(plotted, 1) == formatting.fixed(table, 1), (plotted, table)
    assert min(seconds for seconds, _ in points) >= 0, "the axis starts where the record does"
    assert series.train_window is not None and 0 < series.train_window[0] < series.train_window[1]


def test_every_record_made_here_verifies(recorded: Recorded) -> None:
    """A --repeat group, an interrupted run, a 1x1 and a 1x2 run: each proves its own figures."""
    result = run_benchbase(["verify", str(recorded.runs)], recorded.runs, recorded.runs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "6 of 6 record(s) verified"
