"""A host missing optional tools: no ``numactl`` (binding still applied, and said how), no NVML (said why, at once)."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest
from reliability_support import Bench

from benchbase.contract import compact_cpu_list
from benchbase.record.events import read_events

#: A PATH holding only this interpreter's folder: python and the console scripts, and certainly no numactl.
BARE_PATH = str(Path(sys.executable).parent)


def nvml_works() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - any failure to start NVML means it is missing here
        return False
    pynvml.nvmlShutdown()
    return True


needs_missing_nvml = pytest.mark.skipif(nvml_works(), reason="NVML works on this machine; cannot test its absence")


def test_two_rank_run_without_numactl_binds_each_rank_through_sched_setaffinity(bench: Bench, tmp_path: Path) -> None:
    assert shutil.which("numactl", path=BARE_PATH) is None
    out = tmp_path / "runs"
    result = bench.run(
        "run", "cpm", "--vendor", "cpu", "--preset", "demo", "--config", "1x2", "--set", "max_steps=2",
        "--out", str(out), PATH=BARE_PATH,
    )
    assert result.returncode in (0, 3), result.stdout + result.stderr
    (run,) = out.iterdir()
    launch = json.loads((run / "env.json").read_text())["launch"]
    assert launch["binding_method"] == "sched_setaffinity in each rank; numactl not installed"
    start = next(e for e in read_events(run / "events.jsonl") if e["key"] == "run_start")
    applied = start["metadata"]["cpus"]
    assert applied and compact_cpu_list(applied) == launch["bindings"][0]["cpus"], "rank 0 runs on its planned CPUs"


def test_dry_run_says_the_binding_is_applied_without_numactl(bench: Bench) -> None:
    result = bench.run("run", "cpm", "--vendor", "cpu", "--preset", "demo", "--config", "1x2", "--dry-run",
                       PATH=BARE_PATH)
    assert result.returncode == 0, result.stderr
    assert "CPU binding sched_setaffinity in each rank; numactl not installed" in result.stdout


@needs_missing_nvml
def test_env_says_in_one_line_why_the_nvidia_vendor_finds_nothing(bench: Bench) -> None:
    result = bench.run("env", "--vendor", "nvidia")
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("nvidia:")]
    assert "no NVIDIA GPU found" in line and "NVML" in line and "pick another --vendor" in line


@needs_missing_nvml
def test_run_on_the_nvidia_vendor_without_nvml_fails_fast_in_one_line(bench: Bench, tmp_path: Path) -> None:
    started = time.monotonic()
    result = bench.run("run", "cpm", "--vendor", "nvidia", "--preset", "demo", "--out", str(tmp_path / "runs"))
    assert time.monotonic() - started < 30, "refused before any preparation or launch"
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if line.strip()] == [result.stderr.strip()]
    assert result.stderr.startswith("error: no NVIDIA GPU found") and "pick another --vendor" in result.stderr
    assert not (tmp_path / "runs").exists(), "no record for a run that never started"
