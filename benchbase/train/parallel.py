"""Everything one rank does with the others: the data-parallel wrapper, compiling it, and the collectives.

Kept apart from the step so the step reads the same for one rank and many: the wrapper and ``no_sync`` come from
here, and every reduction the loop and the evaluation need is a call here that is a no-op for a single rank.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from benchbase.config.parameters import CoreConfig
from benchbase.config.resolve import check_compile_available
from benchbase.contract import Vendor
from benchbase.errors import BenchbaseError


@dataclass(frozen=True)
class RankPlace:
    """Where this process sits in the run: its global rank and the number of ranks."""

    rank: int
    world_size: int

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def wrap_for_training(
    model: nn.Module,
    vendor: Vendor,
    device: torch.device,
    place: RankPlace,
    core: CoreConfig,
    emit: Callable[..., None],
) -> nn.Module:
    """The module the step trains: the vendor's data-parallel wrapper around ``model`` when there are several ranks,
    compiled when the run compiles.

    Compiled for training only: evaluation and the state dict use ``model`` itself, whose parameters the compiled
    graph shares.
    """
    if core.parallelism != "ddp":
        # A record must never say fsdp over a run that trained replicas: until the sharded path is here, refuse it.
        raise BenchbaseError(f"parallelism {core.parallelism} is not in this benchbase", "set parallelism: ddp")
    net = vendor.wrap_data_parallel(model, device) if place.distributed else model
    if core.compile_enabled(vendor.compile_by_default):
        check_compile_available(core, vendor.compile_by_default)
        net = torch.compile(net)
        emit("swap", "torch.compile", module=type(model).__name__, source=f"compile: {core.compile}")
    return net


def gradient_sync(net: nn.Module, last: bool, place: RankPlace) -> AbstractContextManager[Any]:
    """Gradients are all-reduced once per step, on its last micro-batch; ``no_sync`` holds them back before it."""
    if last or not place.distributed:
        return contextlib.nullcontext()
    return net.no_sync()  # type: ignore[operator, no-any-return]


def sum_over_ranks(values: torch.Tensor, place: RankPlace) -> torch.Tensor:
    """``values`` replaced, in place, by their sum over ranks (a result the same on every rank)."""
    if place.distributed:
        dist.all_reduce(values)
    return values


def names_over_ranks(names: list[str], place: RankPlace) -> list[str]:
    """Every name any rank holds, first by rank then in each rank's order: ranks that must reduce values by name
    agree on the names and their order this way, even a rank that has none of its own."""
    if not place.distributed:
        return names
    gathered: list[list[str] | None] = [None] * place.world_size
    dist.all_gather_object(gathered, names)
    return list(dict.fromkeys(name for held in gathered for name in held or ()))


def mean_and_min(mean_of: torch.Tensor, min_of: torch.Tensor, world_size: int) -> tuple[float, float]:
    """``mean_of`` averaged over ranks and the smallest ``min_of`` of any rank, from one collective. The loss logged
    is the mean over ranks, so it does not depend on how the global batch is split; the step log's loss and the
    divergence flag (:mod:`benchbase.train.divergence`) travel together, so every rank learns of a
    non-finite loss at the same point without a collective of its own."""
    local = torch.stack([mean_of.detach().to(torch.float64), min_of.detach().to(torch.float64)])
    rows = [local]
    if world_size > 1:
        rows = [torch.zeros_like(local) for _ in range(world_size)]
        dist.all_gather(rows, local)
    pairs = torch.stack(rows).tolist()
    return sum(pair[0] for pair in pairs) / world_size, min(pair[1] for pair in pairs)


def gather_floats(value: float, world_size: int, device: torch.device) -> list[float]:
    """One number from every rank, in rank order (each rank's peak memory, say)."""
    if world_size == 1:
        return [value]
    local = torch.tensor([value], dtype=torch.float64, device=device)
    out = [torch.zeros_like(local) for _ in range(world_size)]
    dist.all_gather(out, local)
    return [float(t.item()) for t in out]


def barrier(world_size: int) -> None:
    """Wait for every rank; nothing to wait for alone."""
    if world_size > 1:
        dist.barrier()


def shutdown_process_group() -> None:
    """Leave the group together: a rank tearing gloo down while a peer still talks to it aborts the peer."""
    dist.barrier()
    dist.destroy_process_group()
