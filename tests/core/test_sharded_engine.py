"""The core's FSDP rules on two real ranks (one process each, gloo), with the line case:

* loss scaling behaves as under DDP: when only one rank's gradients overflow, every rank skips the update and halves
  the scale (torch's ``GradScaler`` finds the overflow on the sharded gradients of any rank), and the next step learns;
* a vendor whose ``wrap_fully_sharded`` does not shard is refused in one line, before anything trains.

Each rank writes what it saw to a file of its own; the test reads them.
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch import nn

from benchbase.config.parameters import CoreConfig
from benchbase.contract import Batch
from benchbase.errors import BenchbaseError
from benchbase.train.engine import Engine
from benchbase.train.parallel import RankPlace
from benchbase_cpu.vendor import CPUVendor
from line_case import SCALED, LineCase, Points, config, points

pytestmark = pytest.mark.slow  # two spawned ranks, each importing torch and FSDP


class OverflowOnRankOne(Points):
    """The line's points, but rank 1's first training batch has an infinite target: its loss, and so its gradients,
    overflow; rank 0's do not."""

    def __init__(self) -> None:
        base = points()
        super().__init__(base.x, base.y)
        self.batches = 0

    def train_batch(self, indices: np.ndarray) -> Batch:
        batch = super().train_batch(indices)
        self.batches += 1
        if dist.get_rank() == 1 and self.batches == 1:
            return {"x": batch["x"], "y": torch.full_like(batch["y"], float("inf"))}
        return batch


class DoesNotShard(CPUVendor):
    name = "unsharded"

    def wrap_fully_sharded(self, model: nn.Module, device: torch.device, blocks: list[nn.Module]) -> nn.Module:
        return model


def whole_parameters(engine: Engine) -> list[torch.Tensor]:
    return [p.full_tensor().clone() for p in engine.model.parameters()]


def as_rank(out: str, rendezvous: str, rank: int) -> None:
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        settled = config(batch_size=4, parallelism="fsdp")
        place = RankPlace(rank, 2)
        engine = Engine(LineCase(OverflowOnRankOne()), CPUVendor(), torch.device("cpu"), SCALED, settled,
                        CoreConfig.from_values(settled), {}, place, lambda *args, **kwargs: None)
        before = whole_parameters(engine)
        engine.train_step(engine.feed.next())
        skipped = all(torch.equal(a, b) for a, b in zip(before, whole_parameters(engine)))
        scale_after_overflow = engine.scaler.get_scale()
        engine.train_step(engine.feed.next())
        learnt = not all(torch.equal(a, b) for a, b in zip(before, whole_parameters(engine)))
        engine.close()
        try:
            Engine(LineCase(points()), DoesNotShard(), torch.device("cpu"), SCALED, settled,
                   CoreConfig.from_values(settled), {}, place, lambda *args, **kwargs: None)
            refusal = None
        except BenchbaseError as exc:
            refusal = str(exc)
        Path(out, f"rank{rank}.json").write_text(json.dumps({
            "skipped": skipped, "scale_after_overflow": scale_after_overflow, "learnt": learnt,
            "sharded": type(engine.model.weight).__name__, "refusal": refusal,
        }))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    folder = tmp_path_factory.mktemp("sharded-engine")
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=as_rank, args=(str(folder), str(folder / "rendezvous"), rank))
                 for rank in range(2)]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join(timeout=180)
            assert process.exitcode == 0, f"a rank ended with {process.exitcode} (None: it hung in a collective)"
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    return [json.loads((folder / f"rank{rank}.json").read_text()) for rank in range(2)]


def test_an_overflow_on_one_rank_skips_the_update_on_every_rank_and_the_next_step_learns(ranks: list[dict]) -> None:
    for seen in ranks:
        assert seen["sharded"] == "DTensor", "the parameters are shards"
        assert seen["skipped"], "no rank stepped on the overflowed gradients"
        assert seen["scale_after_overflow"] == SCALED.initial_scale / 2
        assert seen["learnt"]


def test_a_vendor_sharding_wrapper_that_does_not_shard_is_refused_in_one_line(ranks: list[dict]) -> None:
    for seen in ranks:
        assert seen["refusal"] == (
            "vendor unsharded's wrap_fully_sharded returned a Linear, not a module sharded by "
            "torch.distributed.fsdp.fully_shard; report it to vendor unsharded's maintainers, or run with --set "
            "parallelism=ddp"
        )
