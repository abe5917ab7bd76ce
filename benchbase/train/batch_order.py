"""Which samples each rank trains and scores, in an order that does not depend on how many ranks share the work.

The core owns this for every case, so a result can be compared across scale points: 1 rank with gradient
accumulation 2 and 2 ranks without accumulation consume exactly the same samples at every optimizer step.

* Epoch ``e`` visits all training samples in ``numpy.random.RandomState(seed + e).permutation(n)`` order. The legacy
  ``RandomState`` stream is frozen by NumPy's compatibility policy (NEP 19), so the order is the same on every vendor's
  torch build and NumPy version, which ``torch.randperm`` does not promise.
* Step ``s`` of an epoch takes positions ``[s*G, (s+1)*G)`` of that order (``G`` = global batch); the tail of an
  epoch that cannot fill a global batch is dropped, as a ``drop_last=True`` batch sampler does.
* The ``G`` samples are cut into ``world_size * accum`` micro-batches of ``micro_batch`` in order; rank ``r`` takes
  micro-batches ``r*accum .. r*accum + accum - 1``, i.e. one contiguous slice of the global batch. Concatenating
  ranks in rank order, and each rank's micro-batches in accumulation order, gives back the global batch.
* Evaluation scores every sample of the validation split, cut in stored order into eval batches of ``batch``
  consecutive samples (the last one short when the split does not divide), and batch ``i`` runs on rank
  ``i mod world_size``. The partition into batches depends on the split and the eval batch size only, never on the
  world size, so every topology scores the same samples in the same batches and the metric is the same (a rank may
  get one batch fewer than another, or none). Dropping an incomplete global batch, as the CPM reference's
  ``drop_last`` does, would make the scored set shrink as ranks are added. A rank's batches are made one at a
  time as its evaluation reaches them (:func:`eval_ranges`), never listed whole, so the validation split may be
  larger than memory; each is a range of consecutive indices, increasing, so a source read from front to back
  (a stream) serves them by skipping the other ranks' ranges.

The position in the training stream is just the step number, so resuming needs nothing but the step.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from benchbase.errors import BenchbaseError


def accumulation_steps(global_batch: int, micro_batch: int, world_size: int) -> int:
    """Micro-batches per rank per optimizer step; the global batch must split evenly over ranks and micro-batches."""
    if global_batch <= 0 or micro_batch <= 0:
        raise BenchbaseError(
            f"batch sizes must be positive (global {global_batch}, per device {micro_batch})", "set them to >= 1"
        )
    per_step = micro_batch * world_size
    if global_batch % per_step:
        raise BenchbaseError(
            f"global batch {global_batch} is not a multiple of per-device batch {micro_batch} x {world_size} ranks",
            f"choose a global batch that is a multiple of {per_step}",
        )
    return global_batch // per_step


def _check_rank(rank: int, world_size: int) -> None:
    if not 0 <= rank < world_size:
        raise BenchbaseError(f"rank {rank} is outside a world of {world_size}", "launch ranks 0..world_size-1")


class TrainOrder:
    """The training indices of one rank: for each optimizer step, ``accum`` micro-batches of sample indices."""

    def __init__(
        self, size: int, *, global_batch: int, micro_batch: int, rank: int, world_size: int, seed: int
    ) -> None:
        _check_rank(rank, world_size)
        self.accum = accumulation_steps(global_batch, micro_batch, world_size)
        self.steps_per_epoch = size // global_batch
        if self.steps_per_epoch == 0:
            raise BenchbaseError(
                f"the training split has {size} samples, fewer than one global batch of {global_batch}",
                "lower the batch size or use more training data",
            )
        self.size = size
        self.global_batch = global_batch
        self.micro_batch = micro_batch
        self.rank = rank
        self.seed = seed
        self._epoch = -1
        self._order = np.empty(0, dtype=np.int64)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Sample indices in the order epoch ``epoch`` visits them (the same on every rank)."""
        if epoch != self._epoch:
            self._order = np.random.RandomState(self.seed + epoch).permutation(self.size)
            self._epoch = epoch
        return self._order

    def global_indices(self, step: int) -> np.ndarray:
        """Sample indices of global batch ``step``, in micro-batch order across all ranks."""
        epoch, within = divmod(step, self.steps_per_epoch)
        start = within * self.global_batch
        return self.epoch_order(epoch)[start : start + self.global_batch]

    def rank_indices(self, step: int) -> list[np.ndarray]:
        """This rank's micro-batches of ``step``: ``accum`` slices of ``micro_batch`` indices."""
        share = self.accum * self.micro_batch
        mine = self.global_indices(step)[self.rank * share : (self.rank + 1) * share]
        return [mine[i * self.micro_batch : (i + 1) * self.micro_batch] for i in range(self.accum)]


def eval_ranges(size: int, *, batch: int, rank: int, world_size: int) -> Iterator[range]:
    """This rank's evaluation batches as ranges of consecutive sample indices (see the module docstring), made one
    at a time as the evaluation reaches them: a split of any size costs no memory here. Raises at once, before the
    first batch, if the batch size, the rank or the split is invalid."""
    if batch <= 0:
        raise BenchbaseError(f"eval batch size must be positive, got {batch}", "set it to >= 1")
    _check_rank(rank, world_size)
    if size <= 0:
        raise BenchbaseError("the validation split has no samples", "give the case a validation split to score")
    return _eval_batches(size, batch, rank, world_size)


def _eval_batches(size: int, batch: int, rank: int, world_size: int) -> Iterator[range]:
    for start in range(rank * batch, size, world_size * batch):
        yield range(start, min(start + batch, size))
