"""Figures that say under which conditions they were measured, on real runs.

* One thread policy at every topology: a 1x1 and a 1x2 CPU run each give a rank as many threads as CPUs in its
  binding, record that policy and what each rank actually used, and ``report --detail`` shows it.
* A real demo run trained while two other processes burn the host's CPUs is recorded as contended, and every format
  of the report and of ``--compare`` marks its figures; the same record doctored to a quiet host carries no mark.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchbase.hardware.topology import parse_cpulist
from benchbase.report.marks import CONTENDED
from conftest import SHORT, run_benchbase

REPORT_FORMATS = ("table", "md", "json", "csv", "html")
COMPARE_FORMATS = ("table", "md", "json", "csv")


def _run_dir(runs: Path, topology: str) -> Path:
    (found,) = [path for path in runs.iterdir() if f"-{topology}-" in path.name]
    return found


def _events(run_dir: Path, key: str) -> list[dict]:
    lines = (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [event for event in map(json.loads, lines) if event["key"] == key]


@pytest.mark.parametrize("topology", ["1x1", "1x2"])
def test_every_rank_runs_as_many_threads_as_cpus_in_its_binding_at_any_topology(scale_runs, topology):
    run_dir = _run_dir(scale_runs, topology)
    launch = json.loads((run_dir / "env.json").read_text(encoding="utf-8"))["launch"]
    bound = [len(parse_cpulist(binding["cpus"])) for binding in launch["bindings"]]
    (run_start,) = _events(run_dir, "run_start")
    threads = run_start["metadata"]["threads"]
    assert threads["policy"] == bound == launch["threads"]
    # The CPU vendor keeps the core's count, so what each rank used is the policy.
    assert threads["used"] == bound
    assert launch["thread_env"] == {"OMP_NUM_THREADS": str(min(bound)), "MKL_NUM_THREADS": str(min(bound))}
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["threads"] == {"policy": {str(rank): n for rank, n in enumerate(bound)},
                                  "used": {str(rank): n for rank, n in enumerate(bound)}}


def test_the_detail_view_states_the_thread_policy(scale_runs, cache_dir):
    result = run_benchbase(["report", str(scale_runs), "--detail", "--format", "md"], cache_dir, scale_runs)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("| Threads | ") == 2
    assert "per rank by the core's policy" in result.stdout


@pytest.fixture(scope="module")
def loaded_run(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 1x1 demo run trained while two busy loops take the host's CPUs (stopped however the run ends)."""
    runs = tmp_path_factory.mktemp("loaded")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        result = run_benchbase(["run", "cpm", "--vendor", "cpu", *SHORT, "--out", str(runs)], cache_dir, runs)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert result.returncode in (0, 3), result.stdout + result.stderr
    (run_dir,) = runs.iterdir()
    return run_dir


@pytest.fixture(scope="module")
def quiet_copy(loaded_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The loaded run's record doctored to say its host was quiet: same figures, no contention."""
    run_dir = tmp_path_factory.mktemp("quiet") / "quiet-copy"
    shutil.copytree(loaded_run, run_dir)
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary["run_id"] = "quiet-copy"
    summary["host"].update(others_cpu_share=0.0, contended=False, oversubscribed=False)
    summary_path.write_text(json.dumps(summary), encoding="utf-8")
    return run_dir


def _shown(fmt: str, text: str) -> str:
    return json.dumps(text)[1:-1] if fmt == "json" else text


def test_a_run_under_load_is_recorded_contended(loaded_run):
    host = json.loads((loaded_run / "summary.json").read_text(encoding="utf-8"))["host"]
    assert host["contended"] is True and host["others_cpu_share"] > 0.10


@pytest.mark.parametrize("fmt", REPORT_FORMATS)
def test_every_report_format_marks_the_loaded_run_and_not_the_quiet_copy(loaded_run, quiet_copy, cache_dir, fmt):
    loaded = run_benchbase(["report", str(loaded_run.parent), "--detail", "--format", fmt], cache_dir,
                           loaded_run.parent)
    quiet = run_benchbase(["report", str(quiet_copy.parent), "--detail", "--format", fmt], cache_dir,
                          quiet_copy.parent)
    assert loaded.returncode == quiet.returncode == 0, loaded.stderr + quiet.stderr
    assert _shown(fmt, CONTENDED) in loaded.stdout and "[contended]" in loaded.stdout
    assert _shown(fmt, CONTENDED) not in quiet.stdout and "[contended]" not in quiet.stdout


@pytest.mark.parametrize("fmt", COMPARE_FORMATS)
def test_compare_marks_the_loaded_side_only(loaded_run, quiet_copy, cache_dir, fmt):
    result = run_benchbase(["report", str(loaded_run.parent), "--compare", str(loaded_run), str(quiet_copy),
                            "--format", fmt], cache_dir, loaded_run.parent)
    assert result.returncode == 0, result.stderr
    if fmt == "json":
        lines = {line["label"]: line for line in json.loads(result.stdout)["lines"]}
        assert lines["Performance"]["a"].endswith(CONTENDED) and not lines["Performance"]["b"].endswith(CONTENDED)
        assert lines["p_train"]["a_marks"] == ["contended"] and lines["p_train"]["b_marks"] == []
    else:
        performance = next(line for line in result.stdout.splitlines() if "Performance" in line)
        assert performance.count(CONTENDED) == 1, performance


def test_tflops_per_device_recomputed_from_the_raw_files_matches_the_report(loaded_run, cache_dir):
    """``p_train x flops_per_sample / devices`` from events.jsonl and env.json alone, never through the summary."""
    (run_start,), windows, (train_stop,) = (_events(loaded_run, key) for key in ("run_start", "windows", "train_stop"))
    last = windows[-1]
    steady_samples = train_stop["samples"] - last["metadata"].get("warmup_samples", 0)
    p_train = steady_samples / last["value"]["train_s"]
    launch = json.loads((loaded_run / "env.json").read_text(encoding="utf-8"))["launch"]
    devices = len({binding["device"] for binding in launch["bindings"]})
    expected = p_train * run_start["metadata"]["flops_per_sample"] / devices
    result = run_benchbase(["report", str(loaded_run.parent), "--format", "json"], cache_dir, loaded_run.parent)
    (row,) = json.loads(result.stdout)["rows"]
    assert row["values"]["achieved_flops_per_device"] == pytest.approx(expected, rel=1e-5)
