"""The core trainer inside one rank: what a step and an evaluation are, for every case alike.

A case says what its model, data, recipe and metric are (:mod:`benchbase.contract`); this module does the rest, so
no case can do it differently or forget part of it: the vendor's swaps, the data-parallel wrapper, autocast and loss
scaling with the vendor's settings, gradient accumulation with ``no_sync``, optimizer and schedule stepping with the
recipe's overflow rule, the global batch order (:mod:`benchbase.train.batch_order`), the evaluation's reduction over
batches and ranks, and the state a resume needs. The loop around it (timers, stop rules, events) is
:class:`benchbase.train.worker.Trainer`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.optim.lr_scheduler import LRScheduler

from benchbase.train.batch_order import TrainOrder, eval_indices
from benchbase.contract import Batch, Case, EvalResult, PrecisionPolicy, Vendor
from benchbase.errors import BenchbaseError
from benchbase.train.prefetch import Prefetcher

#: The extra every evaluation records: the model spec's loss, averaged like the metric.
LOSS = "loss"


@dataclass(frozen=True)
class RankPlace:
    """Where this process sits in the run: its global rank and the number of ranks."""

    rank: int
    world_size: int

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


class Engine:
    """One rank's training of one case; the worker's loop drives it and owns every timer and stop decision."""

    def __init__(
        self,
        case: Case,
        vendor: Vendor,
        device: torch.device,
        precision: PrecisionPolicy,
        config: Mapping[str, Any],
        prepared: Mapping[str, Any],
        place: RankPlace,
        emit: Callable[..., None],
    ) -> None:
        self.case = case
        self.device = device
        self.precision = precision
        self.place = place
        self.micro_batch = int(config["batch_size"])
        #: Samples consumed by one optimizer step across all ranks.
        self.global_batch = self.micro_batch * int(config["grad_accum"]) * place.world_size
        self.target = float(config["target"])
        self.max_steps = int(config["max_steps"])
        self.max_samples = int(config["max_samples"]) or None
        self.eval_every = max(1, math.ceil(int(config["eval_interval_samples"]) / self.global_batch))
        self.eval_batch = int(config["eval_batch_size"])

        spec = case.model
        model = spec.build(config, prepared)
        spec.load_initial(model, config, prepared, emit)
        self.flops_per_sample = float(spec.flops_per_sample(config, prepared))
        model.to(device)
        self.model = vendor.apply_swaps(model, emit)
        self.net = vendor.wrap_data_parallel(self.model, device) if place.distributed else self.model
        if compile_enabled(config, vendor):
            check_compile_available(config, vendor)
            # Compiled for training only: evaluation and the state dict use the module itself, whose parameters
            # the compiled graph shares.
            self.net = torch.compile(self.net)
            emit("swap", "torch.compile", module=type(self.model).__name__, source=f"compile: {config['compile']}")
        self.optimizer = case.recipe.optimizer(spec.parameter_groups(self.model, config), config)
        self.schedule: LRScheduler = case.recipe.schedule(self.optimizer, config)
        self.scaler = torch.amp.GradScaler(
            device.type,
            init_scale=precision.initial_scale,
            growth_interval=precision.growth_interval,
            enabled=precision.loss_scaling,
        )
        self.samples = case.dataset.open(config, prepared)
        self.order = TrainOrder(
            self.samples.train_size(),
            global_batch=self.global_batch,
            micro_batch=self.micro_batch,
            rank=place.rank,
            world_size=place.world_size,
            seed=int(config["seed"]),
        )
        self.step = 0
        self._data_step = 0
        self._prefetch: Prefetcher | None = None
        #: Seconds the loop waited for the input pipeline (cumulative; the worker reads and resets it).
        self.data_wait_s = 0.0
        # Training mode is set here and restored after each evaluation, not on every step (a walk over all modules).
        self.net.train()

    # -- training -------------------------------------------------------------------------------------------------
    def _to_device(self, batch: Batch) -> dict[str, torch.Tensor]:
        return {name: tensor.to(self.device, non_blocking=True) for name, tensor in batch.items()}

    def _cpu_batches(self, step: int) -> list[Batch]:
        return [self.samples.train_batch(part) for part in self.order.rank_indices(step)]

    def next_batch(self) -> list[dict[str, torch.Tensor]]:
        """This rank's micro-batches of the next optimizer step, on the device (copied asynchronously)."""
        if self._prefetch is None:
            self._prefetch = Prefetcher(self._cpu_batches, self._data_step, pin=self.device.type != "cpu")
        batches, waited = self._prefetch.next()
        self.data_wait_s += waited
        self._data_step += 1
        return [self._to_device(batch) for batch in batches]

    def train_step(self, batch: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        """Forward, backward and update of one global step; returns the mean micro-batch loss, not synchronised.

        Gradients are all-reduced once, on the last micro-batch (``no_sync`` before it). Every update advances the
        schedule, unless the recipe says an update the loss scaler skipped for an overflow does not.
        """
        spec = self.case.model
        total = torch.zeros((), device=self.device)
        for index, micro in enumerate(batch):
            last = index == len(batch) - 1
            sync = contextlib.nullcontext() if last or not self.place.distributed else self.net.no_sync()
            with sync:
                with self.precision.autocast(self.device):
                    outputs = spec.forward(self.net, micro)
                loss = spec.loss(outputs, micro)
                self.scaler.scale(loss / len(batch)).backward()
            total += loss.detach()
        skips_schedule = self.precision.loss_scaling and not self.case.recipe.schedule_steps_on_overflow
        scale_before = self.scaler.get_scale() if skips_schedule else None
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if scale_before is None or self.scaler.get_scale() >= scale_before:
            self.schedule.step()
        self.step += 1
        return total / len(batch)

    def learning_rate(self) -> float:
        """The lr the next update will use (first parameter group), for the step log."""
        return float(self.optimizer.param_groups[0]["lr"])

    # -- evaluation -----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> EvalResult:
        """The metric and its extras: each averaged over this rank's batches (NaN batches left out), then over ranks.

        Sums stay on the device until the end, so an evaluation syncs with the host once, not once per batch.
        """
        spec, metric = self.case.model, self.case.metric
        self.model.eval()
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, torch.Tensor] = {}
        batches = eval_indices(
            self.samples.eval_size(), batch=self.eval_batch, rank=self.place.rank, world_size=self.place.world_size
        )
        for indices in batches:
            batch = self._to_device(self.samples.eval_batch(indices))
            with self.precision.autocast(self.device):
                outputs = spec.forward(self.model, batch)
            values = dict(metric.score(outputs, batch, self.model))
            values.setdefault(LOSS, spec.loss(outputs, batch))
            for name, value in values.items():
                value = value.detach().double()
                defined = ~torch.isnan(value)
                zero = torch.zeros((), dtype=torch.float64, device=self.device)
                sums[name] = sums.get(name, zero) + torch.where(defined, value, zero)
                counts[name] = counts.get(name, zero) + defined.double()
        names = [metric.name] + [name for name in sums if name != metric.name]
        per_rank = torch.stack([sums[name] / counts[name].clamp_min(1.0) for name in names])
        if self.place.distributed:
            dist.all_reduce(per_rank)
            per_rank /= self.place.world_size
        means = per_rank.tolist()
        self.net.train()
        return EvalResult(metric=means[0], extras=dict(zip(names[1:], means[1:])))

    # -- state ----------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly, but the RNG (the worker saves that per rank through the vendor)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self._data_step = self.step
        self._stop_prefetch()

    def _stop_prefetch(self) -> None:
        if self._prefetch is not None:
            self._prefetch.close()
            self._prefetch = None

    def close(self) -> None:
        """Stop the input pipeline and drop the data-parallel wrapper, so the worker can tear the process group
        down cleanly."""
        self._stop_prefetch()
        self.net = self.model


def compile_enabled(config: Mapping[str, Any], vendor: Vendor) -> bool:
    """Whether this run compiles its model: ``compile: on|off``, or the vendor's default for ``vendor``."""
    choice = str(config.get("compile", "vendor"))
    return choice == "on" or (choice == "vendor" and vendor.compile_by_default)


def check_compile_available(config: Mapping[str, Any], vendor: Vendor) -> None:
    """Refuse a compiled run on a torch without ``torch.compile`` (before 2.0, e.g. a vendor stack on 1.13)."""
    if compile_enabled(config, vendor) and not hasattr(torch, "compile"):
        raise BenchbaseError(
            f"compile is on but torch {torch.__version__} has no torch.compile",
            "set --set compile=off (torch.compile needs torch 2.0 or newer)",
        )
