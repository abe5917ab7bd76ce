"""`benchbase export mlperf`: a real demo run's record, exported, passes MLCommons' own compliance checker
(mlperf-logging, a test dependency) with the ruleset benchbase ships, and MLPerf's time to train is the record's
time to target (docs/mlperf.md)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from mlperf_logging.compliance_checker import mlp_parser
from mlperf_logging.result_summarizer.result_summarizer import _query_mlperf_strong_scaling_score

from benchbase.export.mlperf import CHECKER_RULESET, checker_command, export_run, ruleset_path
from conftest import run_benchbase

#: MLPerf's key order for what precedes the timed region (MLCommons' reference loggers log them in this order).
HEAD = ["submission_benchmark", "submission_org", "submission_division", "submission_status", "submission_platform",
        "cache_clear", "init_start", "global_batch_size", "seed"]


@pytest.fixture(scope="module")
def runs(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One demo run to the target, and one stopped by a 12-step budget before it (exit 3)."""
    out = tmp_path_factory.mktemp("mlperf-runs")
    found: dict[str, Path] = {}
    for name, extra, code in (("converged", [], 0), ("short", ["--set", "max_steps=12"], 3)):
        folder = out / name
        result = run_benchbase(["run", "cpm", "--vendor", "cpu", "--preset", "demo", *extra, "--out", str(folder)],
                               cache_dir, out)
        assert result.returncode == code, result.stdout + result.stderr
        (found[name],) = folder.iterdir()
    return found


def export(run: Path, out: Path, *options: str) -> Path:
    target = out / f"{run.name}.txt"
    result = run_benchbase(["export", "mlperf", str(run), "--output", str(target), *options], out, out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check it with:" in result.stdout
    return target


def check(result_file: Path, case: str = "cpm") -> subprocess.CompletedProcess[str]:
    """MLPerf's compliance checker, as the export prints it, with its log kept beside the file."""
    command = checker_command(result_file, case, log_output=result_file.with_suffix(".checker.log"))
    return subprocess.run(command, cwd=result_file.parent, capture_output=True, text=True, timeout=300)


def parsed(result_file: Path) -> list:
    lines, errors = mlp_parser.parse_file(str(result_file), ruleset=CHECKER_RULESET)
    assert errors == []
    return lines


def test_a_converged_demo_run_passes_mlperfs_checker(runs: dict[str, Path], tmp_path: Path) -> None:
    result_file = export(runs["converged"], tmp_path)
    checked = check(result_file)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout + checked.stderr
    assert "WARNING" not in checked.stdout + checked.stderr, checked.stderr  # not even a warning
    lines = parsed(result_file)
    keys = [line.key for line in lines]
    assert keys[: len(HEAD)] == HEAD
    assert keys.index("train_samples") < keys.index("eval_samples") < keys.index("init_stop") < keys.index("run_start")
    assert keys[-1] == "run_stop" and lines[-1].value["metadata"]["status"] == "success"
    assert {line.value["metadata"]["file"] for line in lines} <= {
        "events.jsonl", "config.yaml", "env.json", "summary.json", "benchbase-export"}
    summary = json.loads((runs["converged"] / "summary.json").read_text())
    by_key = {line.key: line.value for line in lines}
    assert by_key["submission_benchmark"]["value"] == "cpm_demo"
    assert by_key["submission_division"]["value"] == "open"  # a demo is never the official configuration
    assert by_key["global_batch_size"]["value"] == summary["global_batch"]
    assert by_key["opt_base_learning_rate"]["value"] == 2e-3
    evals = [line.value for line in lines if line.key == "eval_accuracy"]
    assert evals[-1]["value"] == summary["final_metric"] >= summary["target"]
    assert evals[-1]["metadata"]["samples_count"] == summary["converged_samples"]
    assert len([k for k in keys if k == "block_start"]) == len(evals) - 1 == len([k for k in keys if k == "block_stop"])


@pytest.mark.parametrize("name", ["converged", "short"])
def test_an_exported_demo_run_is_open_division_and_its_lines_are_in_the_order_they_happened(
    runs: dict[str, Path], tmp_path: Path, name: str
) -> None:
    """Parsed back with MLPerf's own parser: a CPU demo says open (only an official run of the case's official
    preset may say closed), and time never goes back down the file, so run_stop comes after the last eval_stop."""
    lines = parsed(export(runs[name], tmp_path))
    assert [line.value["value"] for line in lines if line.key == "submission_division"] == ["open"]
    times = [line.timestamp for line in lines]
    assert times == sorted(times), [(line.key, line.timestamp) for line in lines]
    keys = [line.key for line in lines]
    assert keys[-1] == "run_stop" and keys.index("eval_stop") < len(keys) - 1
    last_eval_stop = [line for line in lines if line.key == "eval_stop"][-1]
    assert lines[-1].timestamp >= last_eval_stop.timestamp


def test_mlperfs_time_to_train_is_the_records_time_to_target(runs: dict[str, Path], tmp_path: Path) -> None:
    result_file = export(runs["converged"], tmp_path)
    lines = parsed(result_file)
    seconds = _query_mlperf_strong_scaling_score(lines) * 60  # the result summarizer's minutes
    summary = json.loads((runs["converged"] / "summary.json").read_text())
    assert summary["time_to_target_s"] is not None
    # run_stop is at run_start + time_to_target_s, or at the last eval_stop where the wall clock ran ahead of the
    # monotonic one by then (microseconds): time to train is never less than the record's time to target
    assert seconds >= summary["time_to_target_s"] - 1e-6
    assert math.isclose(seconds, summary["time_to_target_s"], abs_tol=5e-3)
    # and the timed region is where the record says training was: it starts at the train window's start and
    # ends with the evaluation that reached the target (two clocks, perf_counter and time.time, so within 5 ms)
    events = [json.loads(line) for line in (runs["converged"] / "events.jsonl").read_text().splitlines()]
    windows = next(e for e in events if e["key"] == "windows")
    last_eval = [e for e in events if e["key"] == "eval"][-1]
    by_key = {line.key: line for line in lines}
    assert by_key["run_start"].timestamp == pytest.approx(windows["metadata"]["train_start_ms"], abs=1e-3)
    assert by_key["run_stop"].timestamp == pytest.approx(last_eval["metadata"]["end_ms"], abs=5)
    assert by_key["init_stop"].timestamp <= by_key["run_start"].timestamp


def test_an_unconverged_run_stops_aborted_and_the_checker_says_the_target_was_missed(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    result_file = export(runs["short"], tmp_path)
    lines = parsed(result_file)
    run_stop = lines[-1]
    assert run_stop.key == "run_stop"
    assert run_stop.value["metadata"]["status"] == "aborted"
    assert run_stop.value["metadata"]["samples_count"] == 12 * 16
    assert [line.value["metadata"]["samples_count"] for line in lines if line.key == "eval_accuracy"] == [0, 192]
    checked = check(result_file)
    assert checked.returncode == 1
    output = checked.stdout + checked.stderr
    assert "Failed checks for eval_accuracy : v['value'] >= s['target']" in output
    for other in ("CHECK for", "Failed executing", "Required"):  # the missed target is all that fails
        assert other not in output, output


def test_training_after_the_last_evaluation_is_a_closing_block(runs: dict[str, Path], tmp_path: Path) -> None:
    """A run killed mid-block (here: the short run's last evaluation taken out of a copy) ends with the block it
    was in, up to where training stopped."""
    copy = tmp_path / runs["short"].name
    shutil.copytree(runs["short"], copy)
    events = (copy / "events.jsonl").read_text().splitlines(keepends=True)
    last_eval = max(i for i, line in enumerate(events) if json.loads(line)["key"] == "eval")
    (copy / "events.jsonl").write_text("".join(events[:last_eval] + events[last_eval + 1:]))
    lines = export_run(copy)
    keys = [line["key"] for line in lines]
    assert keys[-3:] == ["block_start", "block_stop", "run_stop"]
    assert [line["metadata"]["samples_count"] for line in lines[-3:]] == [0, 192, 192]
    assert lines[-1]["metadata"]["status"] == "aborted"


def test_records_that_cannot_be_one_mlperf_result_are_refused_in_one_line(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    resumed = tmp_path / "resumed"
    shutil.copytree(runs["converged"], resumed)
    with open(resumed / "events.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"time_ms": 1.0, "key": "resume", "value": "x", "rank": 0, "step": 40,
                                 "samples": 640, "metadata": {}}) + "\n")
    # the demo's record, as if it had run the case's official preset on a quiet host (this one may be busy)
    official = tmp_path / "official-preset"
    shutil.copytree(runs["converged"], official)
    summary = json.loads((official / "summary.json").read_text())
    quiet = {**summary["host"], "contended": False, "oversubscribed": False}
    (official / "summary.json").write_text(json.dumps({**summary, "preset": "official", "host": quiet}))
    contended = tmp_path / "contended"
    shutil.copytree(official, contended)
    (contended / "summary.json").write_text(json.dumps({**summary, "preset": "official",
                                                         "host": {**quiet, "contended": True}}))
    unofficial = tmp_path / "unofficial"
    shutil.copytree(runs["converged"], unofficial)
    summary = json.loads((unofficial / "summary.json").read_text())
    (unofficial / "summary.json").write_text(json.dumps({**summary, "official": False}))
    for run, options, words in (
        (resumed, [], "was resumed"),
        (unofficial, ["--division", "closed"], "--division open"),
        (runs["converged"], ["--division", "closed"], "not the case's official configuration (preset 'official')"),
        (contended, ["--division", "closed"], "contended or oversubscribed host"),
        (tmp_path / "missing", [], "no run directory"),
    ):
        result = run_benchbase(["export", "mlperf", str(run), *options], tmp_path, tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    # the unofficial run is an open-division result
    result = run_benchbase(["export", "mlperf", str(unofficial)], tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"key": "submission_division", "value": "open"' in result.stdout
    # and only an official run of the official preset is a closed-division result unless told otherwise
    result = run_benchbase(["export", "mlperf", str(official)], tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"key": "submission_division", "value": "closed"' in result.stdout


def test_the_shipped_ruleset_agrees_with_the_case_and_its_recipe() -> None:
    """The ruleset's benchmark table and the export's stated optimizer facts are copies of the case's code."""
    from benchbase_cpm.case import PRESETS
    from benchbase_cpm.reference_rules import BETAS, EPS

    rules = yaml.load(ruleset_path("cpm").read_text(), Loader=yaml.BaseLoader)  # as the checker reads it
    state: dict = {"s": {}}
    exec(rules[0]["BEGIN"]["CODE"], state)  # noqa: S102 - the file's own BEGIN block, as the checker runs it
    table = state["s"]["benchmarks"]
    for preset, benchmark in (("official", "cpm"), ("demo", "cpm_demo")):
        values = {**_case_defaults(), **PRESETS[preset].values}
        assert table[benchmark] == {"target": values["target"], "seq_length": values["seq_length"],
                                    "eval_interval_samples": values["eval_interval_samples"]}
    from benchbase_cpm.mlperf import PROFILE as CPM

    stated = {key: value for key, value, _ in CPM.hyperparameters(
        {"lr": 1.0, "warmup": 0.5, "max_steps": 10, "weight_decay": 0.0, "grad_accum": 1, "seq_length": 8})}
    assert (stated["opt_adamw_beta_1"], stated["opt_adamw_beta_2"]) == BETAS
    assert stated["opt_adamw_epsilon"] == EPS
    assert stated["opt_learning_rate_warmup_steps"] == 5


def _case_defaults() -> dict:
    from benchbase_cpm.case import CORE_DEFAULTS, PARAMETERS

    return {**{name: param.default for name, param in PARAMETERS.items()}, **CORE_DEFAULTS}
