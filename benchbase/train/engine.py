"""The core trainer inside one rank: what a step and an evaluation are, for every case alike.

A case says what its model, data, recipe and metric are (:mod:`benchbase.contract`); this module does the rest, so
no case can do it differently or forget part of it: the vendor's swaps, autocast and loss scaling with the vendor's
settings, gradient accumulation, optimizer and schedule stepping with the recipe's overflow rule, the evaluation over
batches and ranks (its arithmetic is :mod:`benchbase.train.evaluation`), and the state a resume needs. The
data-parallel wrapper, compiling and the collectives are :mod:`benchbase.train.parallel`; the input stream is
:class:`benchbase.train.prefetch.TrainFeed`; the loop around it (timers, stop rules, events) is
:class:`benchbase.train.loop.TrainingLoop`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import torch
from torch.optim.lr_scheduler import LRScheduler

from benchbase.config.parameters import CoreConfig
from benchbase.contract import Batch, Case, PrecisionPolicy, Vendor
from benchbase.errors import BenchbaseError
from benchbase.train.batch_order import TrainOrder, eval_ranges
from benchbase.train.evaluation import Evaluation, Tally
from benchbase.train.parallel import RankPlace, full_parameters, gradient_sync, wrap_for_training
from benchbase.train.prefetch import TrainFeed, to_device

if TYPE_CHECKING:
    from benchbase.train.sharded_state import ShardedWorkload

#: The extra every evaluation records: the model spec's loss, averaged like the metric.
LOSS = "loss"


class Engine:
    """One rank's training of one case; the loop drives it and owns every timer and stop decision."""

    def __init__(
        self,
        case: Case,
        vendor: Vendor,
        device: torch.device,
        precision: PrecisionPolicy,
        config: Mapping[str, Any],
        core: CoreConfig,
        prepared: Mapping[str, Any],
        place: RankPlace,
        emit: Callable[..., None],
    ) -> None:
        self.case = case
        self.device = device
        self.precision = precision
        self.place = place
        self.micro_batch = core.batch_size
        #: Samples consumed by one optimizer step across all ranks.
        self.global_batch = self.micro_batch * core.grad_accum * place.world_size
        self.eval_batch = core.eval_batch_size

        spec = case.model
        model = spec.build(config, prepared)
        spec.load_initial(model, config, prepared, emit)
        self.flops_per_sample = float(spec.flops_per_sample(config, prepared))
        model.to(device)
        self.model = vendor.apply_swaps(model, emit)
        self.net = wrap_for_training(self.model, vendor, device, place, core, emit, spec.blocks(self.model))
        self.optimizer = case.recipe.optimizer(spec.parameter_groups(self.model, config), config)
        #: Under FSDP (several ranks), the model and optimizer state each rank checkpoints as its own shards.
        self.shards = self._sharded_workload() if core.sharded and place.distributed else None
        self.schedule: LRScheduler = case.recipe.schedule(self.optimizer, config)
        self.scaler = torch.amp.GradScaler(
            device.type,
            init_scale=precision.initial_scale,
            growth_interval=precision.growth_interval,
            enabled=precision.loss_scaling,
        )
        self.samples = case.dataset.open(config, prepared)
        order = TrainOrder(
            self.samples.train_size(),
            global_batch=self.global_batch,
            micro_batch=self.micro_batch,
            rank=place.rank,
            world_size=place.world_size,
            seed=core.seed,
        )
        self.feed = TrainFeed(self.samples, order, device)
        self.step = 0
        #: The recipe's clip of the global gradient norm; ``None``: no clipping.
        self.max_grad_norm = case.recipe.max_grad_norm
        #: The last update's gradient norm before clipping, on the device (read at log points only); ``None``
        #: without clipping, which computes no norm.
        self.grad_norm: torch.Tensor | None = None
        # Training mode is set here and restored after each evaluation, not on every step (a walk over all modules).
        self.net.train()

    def _sharded_workload(self) -> ShardedWorkload:
        from benchbase.train.sharded_state import ShardedWorkload  # DCP's import costs seconds: sharded runs only

        return ShardedWorkload(self.model, self.optimizer)

    # -- training -------------------------------------------------------------------------------------------------
    def train_step(self, batch: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        """Forward, backward and update of one global step; returns the mean micro-batch loss, not synchronised.

        Gradients are all-reduced once, on the last micro-batch (``no_sync`` before it), then clipped when the
        recipe says so. Every update advances the schedule, unless the recipe says an update the loss scaler
        skipped for an overflow does not.
        """
        spec = self.case.model
        total = torch.zeros((), device=self.device)
        for index, micro in enumerate(batch):
            with gradient_sync(self.net, index == len(batch) - 1, self.place):
                with self.precision.autocast(self.device):
                    outputs = spec.forward(self.net, micro)
                loss = spec.loss(outputs, micro)
                self.scaler.scale(loss / len(batch)).backward()
            total += loss.detach()
        skips_schedule = self.precision.loss_scaling and not self.case.recipe.schedule_steps_on_overflow
        scale_before = self.scaler.get_scale() if skips_schedule else None
        self._clip_gradients()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if scale_before is None or self.scaler.get_scale() >= scale_before:
            self.schedule.step()
        self.step += 1
        return total / len(batch)

    def _clip_gradients(self) -> None:
        """Clip the global gradient norm to the recipe's ``max_grad_norm``, on the true gradients.

        The scaler unscales them first (``unscale_``, which also notes an overflow), so the norm is the gradients'
        own, not the loss scale's; an overflowed update is still skipped by ``scaler.step`` and leaves the weights
        as they were. ``clip_grad_norm_`` over the model's parameters is the norm over all ranks for any wrapper:
        DDP has all-reduced the gradients, and an FSDP2 gradient is a DTensor whose norm is reduced over its shards.
        """
        if self.max_grad_norm is None:
            return
        self.scaler.unscale_(self.optimizer)
        self.grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm).detach()

    def grad_norm_value(self) -> float | None:
        """The last update's gradient norm before clipping, on the host; ``None`` when the recipe does not clip.

        Called by every rank at the same log points: an FSDP2 norm is a DTensor, and reading its full value is a
        collective. Told apart by its ``full_tensor`` rather than by importing DTensor, which would add about a second
        to every DDP worker's start."""
        if self.grad_norm is None:
            return None
        full_tensor = getattr(self.grad_norm, "full_tensor", None)
        return float(full_tensor() if full_tensor is not None else self.grad_norm)

    def learning_rate(self) -> float:
        """The lr the next update will use (first parameter group), for the step log."""
        return float(self.optimizer.param_groups[0]["lr"])

    # -- evaluation -----------------------------------------------------------------------------------------------
    def evaluate(self) -> Evaluation:
        """The metric and its extras over every sample of the validation split (see :mod:`.evaluation`).

        The forward runs on the unwrapped model, never the data-parallel wrapper, so no batch needs the other
        ranks: a rank with fewer batches than another, or none, only meets them in the one reduction at the end.
        A sharded model has its parameters gathered once before the first batch (:func:`full_parameters`).
        """
        with full_parameters(self.model, sharded=self.shards is not None):
            return self._evaluate()

    @torch.no_grad()
    def _evaluate(self) -> Evaluation:
        spec, metric = self.case.model, self.case.metric
        self.model.eval()
        tally = Tally(self.device)
        size = self.samples.eval_size()
        place = {"batch": self.eval_batch, "rank": self.place.rank, "world_size": self.place.world_size}
        # Two walks of the same lazy partition: one handed to the source, one counting each batch's samples. The
        # source's batches are taken one at a time, so one batch (and the one being scored) is all that is held.
        spans = eval_ranges(size, **place)
        for span, host_batch in _one_per_span(spans, self.samples.eval_batches(eval_ranges(size, **place)), size):
            batch = to_device(host_batch, self.device)
            with self.precision.autocast(self.device):
                outputs = spec.forward(self.model, batch)
            values = dict(metric.score(outputs, batch, self.model))
            values.setdefault(LOSS, spec.loss(outputs, batch))
            tally.add(values, len(span))
        result = tally.combine(metric.name, self.place)
        self.net.train()
        return result

    # -- state ----------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly, but the RNG (saved per rank by :mod:`benchbase.train.checkpoint`)
        and, under FSDP, the model and optimizer, which every rank saves as its :attr:`shards`."""
        whole = {} if self.shards else {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        return {
            **whole,
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.shards is None:  # shards are loaded by every rank before (benchbase.train.checkpoint)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.feed.seek(self.step)

    def close(self) -> None:
        """Stop the input pipeline and drop the data-parallel wrapper, so the worker can tear the process group
        down cleanly."""
        self.feed.close()
        self.net = self.model


def _one_per_span(spans: Iterator[range], batches: Iterator[Batch], size: int) -> Iterator[tuple[range, Batch]]:
    """Each range with the batch the source gave for it; a source that gives more or fewer batches than ranges
    is refused in one line (a metric over part of the split would be recorded as the whole's)."""
    given = 0
    for span in spans:
        batch = next(batches, None)
        if batch is None:
            _refuse_count(f"ran out after {given} batch(es)", size)
        given += 1
        yield span, batch
    if next(batches, None) is not None:
        _refuse_count(f"gave more than the {given} batch(es) asked for", size)


def _refuse_count(problem: str, size: int) -> NoReturn:
    raise BenchbaseError(
        f"the case's eval_batches {problem} (one per range handed to it, validation split of {size} samples)",
        "yield exactly one batch per range, in order",
    )
