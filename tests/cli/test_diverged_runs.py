"""A run whose training loss became NaN or infinite ends ``diverged`` (exit code 6) with the step in its reason, and
no throughput figure rests on it: not the report's Performance, not ``--compare``'s ratio; it counts as not
converged for stability, and the MLPerf export ends it ``aborted``, as every unsuccessful run.

The records are real demo runs. The loop's side (stopping at a non-finite loss with a ``diverged`` ``train_stop``) is
tested in tests/core/test_loop_windows.py; here one real record is doctored to end as that loop ends such a run, and
the supervisor's decision, the summary and the report are checked on it. The last test makes a real run diverge, end
to end.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchbase.record.events import read_events
from benchbase.record.rundir import RunDir
from benchbase.record.schema import STATUS_EXIT_CODES
from benchbase.run.status import decide_status
from conftest import run_benchbase
from test_example_case import case_site  # noqa: F401 (the fixture installing the example case)

DIVERGED_AT = 4


@dataclass(frozen=True)
class Records:
    """Two repeats of one configuration: ``healthy`` as recorded, ``diverged`` doctored to have diverged."""

    folder: Path
    healthy: Path
    diverged: Path
    decided: tuple[str, str]


def doctor_as_diverged(run: Path, step: int) -> tuple[str, str]:
    """End ``run``'s events as the loop ends a diverged run (its ``train_stop`` says ``diverged`` and at which step),
    let the supervisor's rule decide the status from them, and record the end as the supervisor does."""
    lines = (run / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    stop = max(index for index, event in enumerate(events) if event["key"] == "train_stop")
    events[stop]["value"] = "diverged"
    events[stop]["metadata"]["diverged_step"] = step
    status, reason = decide_status(0, False, None, events[: stop + 1], RunDir(run))
    end = max(index for index, event in enumerate(events) if event["key"] == "run_stop")
    events[end]["value"] = status
    events[end]["metadata"].update(exit_code=STATUS_EXIT_CODES[status], reason=reason)
    (run / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    record = RunDir(run)
    summary = record.read_summary()
    summary.update(status=status, exit_code=STATUS_EXIT_CODES[status], reason=reason)
    record.write_summary(summary)
    return status, reason


@pytest.fixture(scope="module")
def records(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Records:
    folder = tmp_path_factory.mktemp("diverged-runs")
    result = run_benchbase(["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--repeat", "2", "--set",
                            "max_steps=6", "--out", str(folder)], cache_dir, folder)
    assert result.returncode == 3, result.stdout + result.stderr
    healthy, diverged = sorted(folder.iterdir())
    return Records(folder, healthy, diverged, doctor_as_diverged(diverged, DIVERGED_AT))


def report(records: Records, *args: str) -> dict:
    result = run_benchbase(["report", *args, "--format", "json"], records.folder, records.folder)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_a_diverged_train_stop_is_status_diverged_with_exit_code_6_and_the_step_in_its_reason(
    records: Records,
) -> None:
    assert records.decided == ("diverged", f"non-finite training loss at step {DIVERGED_AT}")
    summary = json.loads((records.diverged / "summary.json").read_text())
    assert (summary["status"], summary["exit_code"]) == ("diverged", 6)


def test_the_report_takes_no_throughput_from_a_diverged_run_and_counts_it_against_stability(
    records: Records,
) -> None:
    (row,) = report(records, str(records.folder), "--detail")["rows"]
    healthy = json.loads((records.healthy / "summary.json").read_text())
    assert row["values"]["p_train"] == pytest.approx(healthy["throughput"]["p_train"], rel=1e-9), "the healthy run's"
    assert (row["values"]["runs_counted"], row["values"]["runs_converged"]) == (2, 0)
    detail = {item["label"]: item["text"] for item in row["detail"]}
    assert f"{records.diverged.name} (diverged, no throughput figure)" in detail["Run ids"]
    assert "1 diverged (non-finite training loss: counted as not converged, no throughput figure)" in detail["Runs"]
    # (a busy host adds its † after the count: tests/cli/test_clean_figures.py is about that)
    assert detail["Throughput range"].removesuffix(" †").endswith("(1 completed run)")


def test_a_diverged_run_alone_has_no_performance_and_compares_without_a_ratio(records: Records) -> None:
    (row,) = report(records, str(records.diverged))["rows"]
    assert row["values"]["p_train"] is None
    assert row["cells"]["Performance"].startswith("n/a")
    compared = report(records, str(records.folder), "--compare", str(records.diverged), str(records.healthy))
    lines = {line["label"]: line for line in compared["lines"]}
    assert lines["Performance"]["a"].startswith("n/a") and lines["Performance"]["ratio_b_over_a"] is None


def test_the_mlperf_export_ends_a_diverged_run_aborted(records: Records, tmp_path: Path) -> None:
    target = tmp_path / "diverged.txt"
    result = run_benchbase(["export", "mlperf", str(records.diverged), "--output", str(target)], tmp_path, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    run_stop = json.loads(target.read_text().splitlines()[-1].removeprefix(":::MLLOG "))
    assert run_stop["key"] == "run_stop" and run_stop["metadata"]["status"] == "aborted"


def test_a_diverged_run_is_not_resumed_it_would_diverge_again_from_its_checkpoint(records: Records) -> None:
    result = run_benchbase(["run", "cpm", "--vendor", "cpu", "--resume", str(records.diverged)], records.folder,
                           records.folder)
    assert result.returncode == 2
    assert "already finished (diverged)" in result.stderr and "start a new run instead" in result.stderr


def test_a_real_run_whose_loss_stops_being_finite_ends_diverged_at_that_step(
    case_site: Path, cache_dir: Path, tmp_path: Path  # noqa: F811
) -> None:
    """Adam with a learning rate of 3e37 pushes the example case's weights to the edge of float32 in one update, so
    the loss is infinite within a few steps. (Adam's first step size, lr / 0.1, must itself be a float32: at 1e38
    torch refuses the update with an error, a failure and not a divergence.)"""
    out = tmp_path / "runs"
    result = run_benchbase(["run", "spirals", "--vendor", "cpu", "--set", "lr=3e37", "--set", "log_interval=1",
                            "--set", "max_steps=50", "--out", str(out)], cache_dir, tmp_path,
                           PYTHONPATH=str(case_site))
    assert result.returncode == 6, result.stdout + result.stderr
    (run,) = out.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    losses = [(event["step"], event["value"]) for event in read_events(run / "events.jsonl") if event["key"] == "step"]
    first = next(step for step, loss in losses if not math.isfinite(loss))
    assert summary["status"] == "diverged"
    assert summary["reason"] == f"non-finite training loss at step {first}"
    assert summary["steps"] == first, "stopped within one log interval (of 1 step)"
