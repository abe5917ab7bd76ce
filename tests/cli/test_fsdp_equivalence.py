"""Sharding changes where the state lives, not the training: the demo at 1x2 under ``parallelism=fsdp`` (real gloo
ranks, torch's ``fully_shard`` on each transformer layer) logs the losses DDP logs at 1x2, and those one rank logs
accumulating the same global batch in two micro-batches, step by step for 40 steps, to 1e-5.

The three runs share the seed, so they start from the same weights and see the same global batches
(docs/contract.md, "The global batch order"); what differs is only the order of the floating-point sums (DDP's
all-reduce, FSDP's reduce-scatter, one rank's accumulation). The evaluations, scored on the gathered parameters
under FSDP, agree too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchbase.record.events import read_events
from benchbase.record.rundir import RunDir
from conftest import run_benchbase

pytestmark = pytest.mark.slow

STEPS = 40
COMMON = ["run", "cpm", "--vendor", "cpu", "--preset", "demo", "--set", f"max_steps={STEPS}", "--set", "log_interval=1",
          "--set", "batch_size=8"]


def events_of(out: Path) -> list[dict]:
    (run,) = out.iterdir()
    return read_events(run / "events.jsonl")


def losses(events: list[dict]) -> list[float]:
    return [event["value"] for event in events if event["key"] == "step"]


@pytest.fixture(scope="module")
def runs(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three ways to train the same global batch of 16, each recorded in a folder of its own."""
    folder = tmp_path_factory.mktemp("fsdp-equivalence")
    ways = {
        "fsdp 1x2": ["--config", "1x2", "--set", "parallelism=fsdp"],
        "ddp 1x2": ["--config", "1x2"],
        "1x1 accumulating 2": ["--config", "1x1", "--set", "grad_accum=2"],
    }
    outs = {}
    for name, options in ways.items():
        out = folder / name.replace(" ", "-")
        result = run_benchbase([*COMMON, *options, "--out", str(out)], cache_dir, folder)
        assert result.returncode == 3, name + result.stdout + result.stderr
        outs[name] = out
    return outs


def test_fsdp_at_two_ranks_logs_the_losses_of_ddp_and_of_one_rank_accumulating(runs: dict[str, Path]) -> None:
    sharded = losses(events_of(runs["fsdp 1x2"]))
    assert len(sharded) == STEPS
    for other in ("ddp 1x2", "1x1 accumulating 2"):
        assert sharded == pytest.approx(losses(events_of(runs[other])), abs=1e-5), other
    assert sharded[-1] < sharded[0] - 1, "and it is training"


def test_fsdp_evaluates_to_the_metric_of_ddp(runs: dict[str, Path]) -> None:
    def evals(name: str) -> list[float]:
        return [event["value"] for event in events_of(runs[name]) if event["key"] == "eval"]

    assert len(evals("fsdp 1x2")) == 2, "before training and at the end"
    assert evals("fsdp 1x2") == pytest.approx(evals("ddp 1x2"), abs=1e-5)


def test_the_record_says_the_run_was_sharded_and_the_report_shows_it(runs: dict[str, Path]) -> None:
    (sharded,) = runs["fsdp 1x2"].iterdir()
    assert RunDir(sharded).read_config()["values"]["parallelism"] == "fsdp"
    assert RunDir(sharded).read_summary()["parallelism"] == "fsdp"
    swaps = [event for event in events_of(runs["fsdp 1x2"]) if event["key"] == "swap"]
    assert [(s["value"], s["metadata"]["module"], s["metadata"]["units"]) for s in swaps] == [
        ("fully_shard", "CPMModel", 3)  # the demo's two layers, and the root
    ]
    (replicated,) = runs["ddp 1x2"].iterdir()
    assert RunDir(replicated).read_summary()["parallelism"] == "ddp"
