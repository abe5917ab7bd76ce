"""Everything one rank does with the others: the data-parallel or sharded wrapper, compiling it, and the collectives.

Kept apart from the step so the step reads the same for one rank and many, under DDP and FSDP alike: the wrapper,
holding gradients back between micro-batches and gathering the parameters for an evaluation come from here, and
every reduction the loop and the evaluation need is a call here that is a no-op for a single rank.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
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
    blocks: list[nn.Module] | None = None,
) -> nn.Module:
    """The module the step trains: when there are several ranks, the vendor's data-parallel wrapper around
    ``model``, or under ``parallelism: fsdp`` ``model`` itself sharded in place, block by block (``blocks``, the
    model spec's); compiled when the run compiles. One rank has nothing to share: it trains ``model`` as it is.

    Compiled for training only: evaluation and the state dict use ``model`` itself, whose parameters the compiled
    graph shares.
    """
    if not place.distributed:
        net = model
    elif core.sharded:
        name = type(model).__name__  # before fully_shard renames its class
        net = vendor.wrap_fully_sharded(model, device, list(blocks or ()))
        _check_sharded(net, vendor)
        emit("swap", "fully_shard", module=name, source="parallelism: fsdp", units=len(blocks or ()) + 1)
    else:
        net = vendor.wrap_data_parallel(model, device)
    if core.compile_enabled(vendor.compile_by_default):
        check_compile_available(core, vendor.compile_by_default)
        net = torch.compile(net)
        emit("swap", "torch.compile", module=type(model).__name__, source=f"compile: {core.compile}")
    return net


def _check_sharded(net: nn.Module, vendor: Vendor) -> None:
    """A vendor's sharding wrapper must give an FSDP2 module: the core holds gradients back, gathers parameters for
    an evaluation and checkpoints through its methods."""
    from torch.distributed.fsdp import FSDPModule  # seconds of import: sharded runs only

    if not isinstance(net, FSDPModule):
        raise BenchbaseError(
            f"vendor {vendor.name}'s wrap_fully_sharded returned a {type(net).__name__}, not a module sharded by "
            "torch.distributed.fsdp.fully_shard",
            f"report it to vendor {vendor.name}'s maintainers, or run with --set parallelism=ddp",
        )


def gradient_sync(net: nn.Module, last: bool, place: RankPlace) -> AbstractContextManager[Any]:
    """Gradients are reduced once per step, on its last micro-batch: ``no_sync`` holds DDP's all-reduce back before
    it, and FSDP's reduce-scatter is switched off for the micro-batches before it (:func:`_fsdp_gradient_sync`)."""
    if not place.distributed:
        return contextlib.nullcontext()
    module = getattr(net, "_orig_mod", net)  # a compiled wrapper holds the module it compiled
    if hasattr(module, "set_requires_gradient_sync"):  # an FSDP2 module (FSDPModule), without importing FSDP
        return _fsdp_gradient_sync(module, last)
    if last:
        return contextlib.nullcontext()
    return net.no_sync()  # type: ignore[operator, no-any-return]


@contextlib.contextmanager
def _fsdp_gradient_sync(module: Any, last: bool) -> Iterator[None]:
    """FSDP's reduce-scatter on the last micro-batch only; the ones before accumulate unsharded gradients locally,
    as DDP's ``no_sync`` does. The parameters are still resharded after each micro-batch's backward: keeping them
    gathered would save one all-gather per block and micro-batch, at the cost of holding the whole model on every
    rank, which is the memory FSDP is chosen to save."""
    module.set_requires_gradient_sync(last)
    try:
        yield
    finally:
        module.set_requires_gradient_sync(True)


@contextlib.contextmanager
def full_parameters(model: nn.Module, sharded: bool) -> Iterator[None]:
    """Every parameter of a sharded ``model`` gathered on every rank for an evaluation, and sharded again after it.

    An FSDP forward gathers each block's parameters from all ranks, a collective, but ranks evaluate different
    numbers of batches (:func:`benchbase.train.batch_order.eval_indices`): one gather before the first batch, on
    every rank, lets each rank run its batches alone, as under DDP, and lets the metric read a weight (CPM's
    Embedding Average reads the word embeddings) whole. The cost is the whole model's parameters on every rank
    during an evaluation, beside the sharded optimizer state. A model that is not ``sharded`` is left as it is.
    """
    if not sharded:
        yield
        return
    from torch.distributed.fsdp import FSDPModule

    units = [module for module in model.modules() if isinstance(module, FSDPModule)]
    root = units[0]
    root.set_reshard_after_forward(False)
    for unit in units:
        unit.unshard()
    try:
        yield
    finally:
        for unit in units:
            unit.reshard()
        # FSDP's own choice: blocks reshard after their forward, the root (needed first by the backward) keeps its.
        root.set_reshard_after_forward(True)
        root.set_reshard_after_forward(False, recurse=False)


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
