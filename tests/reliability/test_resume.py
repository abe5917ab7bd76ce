"""A run stopped after a checkpoint and continued with ``--resume`` ends exactly where an uninterrupted run ends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from reliability_support import RESUMABLE, Bench

from benchbase.record.events import read_events
from benchbase.record.rundir import RunDir
from benchbase.registry.plugins import load_checked_registry
from benchbase.verify.record import verify_run


def test_resumed_run_ends_with_the_same_final_metric_as_an_uninterrupted_one(
    bench: Bench, tmp_path: Path, interrupted_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    whole = bench.run("run", "cpm", "--vendor", "cpu", *RESUMABLE, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 3, whole.stdout + whole.stderr
    (whole_run,) = (tmp_path / "whole").iterdir()
    expected = RunDir(whole_run).read_summary()

    run = copy_run(interrupted_run)
    stopped_at = RunDir(run).read_summary()
    assert stopped_at["status"] == "interrupted" and stopped_at["steps"] < expected["steps"]
    resumed = bench.run("run", "cpm", "--vendor", "cpu", "--resume", str(run))
    assert resumed.returncode == 3, resumed.stdout + resumed.stderr
    summary = RunDir(run).read_summary()

    assert summary["status"] == "not_converged" and summary["run_id"] == run.name
    assert summary["steps"] == expected["steps"] and summary["samples"] == expected["samples"]
    assert summary["final_metric"] == expected["final_metric"], "bit-identical training after the resume"
    assert summary["final_extras"] == expected["final_extras"]
    assert summary["initial_metric"] == expected["initial_metric"], "still the first attempt's evaluation"
    windows = summary["windows"]
    assert 0 < windows["core_s"] <= windows["train_s"] <= windows["whole_s"] <= windows["e2e_s"], windows
    keys = [e["key"] for e in read_events(run / "events.jsonl")]
    assert keys.count("run_start") == 2 and keys.count("resume") == 1, "the log holds both attempts"
    assert verify_run(run, load_checked_registry().case).findings == (), "a resumed record proves its figures"


def test_checkpoint_folder_holds_the_rng_of_exactly_the_step_its_state_is_at(interrupted_run: Path) -> None:
    """RNG files are written before ``state.pt`` and older ones removed after it, so the two always agree."""
    folder = interrupted_run / "checkpoint"
    step = torch.load(folder / "state.pt", weights_only=True)["loop"]["step"]
    assert sorted(p.name for p in folder.glob("rng-*.pt")) == [f"rng-rank0-step{step}.pt"]
