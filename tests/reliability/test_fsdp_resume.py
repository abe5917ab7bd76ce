"""A sharded run (``parallelism=fsdp``, two real gloo ranks) stopped after a checkpoint and continued with ``--resume``
trains on bit-exactly as the run that was never stopped: every rank saved its model and optimizer shards through
``torch.distributed.checkpoint`` and loads them back at the same world size; at another world size, and from a
shard folder that was tampered with, the resume is refused in one line before the record is touched.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from reliability_support import RESUMABLE, Bench, interrupted_after_first_checkpoint

from benchbase.record.events import read_events
from benchbase.record.rundir import RunDir

pytestmark = pytest.mark.slow

SHARDING = ["--config", "1x2", "--set", "parallelism=fsdp"]
SHARDED = [*RESUMABLE, *SHARDING]


@pytest.fixture(scope="module")
def interrupted_sharded_run(demo_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sharded demo run stopped by SIGINT after its first checkpoint. Copy it before use."""
    return interrupted_after_first_checkpoint(demo_cache, tmp_path_factory.mktemp("interrupted-fsdp"), *SHARDING)


def step_losses(run: Path) -> dict[int, float]:
    """The logged loss of every step, the last attempt's where a step was trained twice."""
    return {event["step"]: event["value"] for event in read_events(run / "events.jsonl") if event["key"] == "step"}


def test_a_resumed_sharded_run_continues_bit_exactly(
    bench: Bench, tmp_path: Path, interrupted_sharded_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    whole = bench.run("run", "cpm", "--vendor", "cpu", *SHARDED, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 3, whole.stdout + whole.stderr
    (whole_run,) = (tmp_path / "whole").iterdir()
    expected = RunDir(whole_run).read_summary()

    run = copy_run(interrupted_sharded_run)
    assert RunDir(run).read_summary()["steps"] < expected["steps"]
    resumed = bench.run("run", "cpm", "--vendor", "cpu", "--resume", str(run))
    assert resumed.returncode == 3, resumed.stdout + resumed.stderr
    summary = RunDir(run).read_summary()

    assert summary["steps"] == expected["steps"] and summary["parallelism"] == "fsdp"
    assert step_losses(run) == step_losses(whole_run), "every step's loss, bit for bit"
    assert summary["final_metric"] == expected["final_metric"]
    assert summary["final_extras"] == expected["final_extras"]


def test_the_checkpoint_folder_holds_the_shards_and_rngs_of_its_state_step(interrupted_sharded_run: Path) -> None:
    folder = interrupted_sharded_run / "checkpoint"
    state = torch.load(folder / "state.pt", weights_only=True)
    step = state["loop"]["step"]
    assert "model" not in state["workload"], "no rank holds the whole model: it is in the shards"
    assert sorted(p.name for p in folder.glob("rng-*.pt")) == [f"rng-rank{r}-step{step}.pt" for r in (0, 1)]
    assert sorted(p.name for p in folder.glob("shards-*")) == [f"shards-step{step}"]
    assert sorted(p.name for p in (folder / f"shards-step{step}").iterdir()) == [
        ".metadata", "__0_0.distcp", "__1_0.distcp"
    ]


def test_a_sharded_resume_at_another_world_size_is_refused_in_one_line(
    bench: Bench, interrupted_sharded_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    run = copy_run(interrupted_sharded_run)
    before = (run / "summary.json").read_bytes()
    refused = bench.run("run", "cpm", "--vendor", "cpu", "--config", "1x1", "--resume", str(run))
    assert refused.returncode == 2
    assert "was checkpointed by 2 ranks but --config asks for 1" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert (run / "summary.json").read_bytes() == before


class RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_a_tampered_shard_folder_is_refused_before_the_record_is_touched(
    bench: Bench, tmp_path: Path, interrupted_sharded_run: Path, copy_run: Callable[[Path], Path]
) -> None:
    run = copy_run(interrupted_sharded_run)
    before = (run / "summary.json").read_bytes()
    (shards,) = (run / "checkpoint").glob("shards-step*")
    (shards / ".metadata").write_bytes(pickle.dumps(RunsCode()))
    refused = bench.run("run", "cpm", "--vendor", "cpu", "--resume", str(run))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "is not readable: it names posix.system" in refused.stderr and "start the run again" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert (run / "summary.json").read_bytes() == before
    assert not (tmp_path / "pwned").exists()
