"""An evaluation's arithmetic: each name's defined batch values summed with their count, then summed over ranks.

Sums and counts, never a mean of per-rank means: the partition into eval batches is the same at every world size
(:mod:`benchbase.train.batch_order`), but ranks score different numbers of batches, and a rank may score none, so
only the sums over ranks give exactly what one rank scoring every batch gets (up to the rounding of the summation
order). A batch whose value is NaN (nothing to score) is left out of its name's sum and count; a name no batch
defined is NaN, never a 0 that would read as a measurement. Values stay on the device until the one all-reduce at
the end, so an evaluation syncs with the host and with the other ranks once, not once per batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from benchbase.train.parallel import RankPlace, names_over_ranks, sum_over_ranks


@dataclass(frozen=True)
class Evaluation:
    """One evaluation over all ranks: the metric, the extras, and what was scored to get them."""

    metric: float
    extras: Mapping[str, float]
    #: Samples scored, all ranks together: the whole validation split.
    samples: int
    #: Eval batches they were scored in, all ranks together.
    batches: int


class Tally:
    """One rank's running sums of an evaluation, on the device."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, torch.Tensor] = {}
        self.samples = 0
        self.batches = 0

    def add(self, values: Mapping[str, torch.Tensor], samples: int) -> None:
        """One batch of ``samples`` samples and its values by name (0-d tensors, NaN where undefined)."""
        zero = torch.zeros((), dtype=torch.float64, device=self.device)
        for name, value in values.items():
            value = value.detach().double()
            defined = ~torch.isnan(value)
            self.sums[name] = self.sums.get(name, zero) + torch.where(defined, value, zero)
            self.counts[name] = self.counts.get(name, zero) + defined.double()
        self.samples += samples
        self.batches += 1

    def combine(self, metric_name: str, place: RankPlace) -> Evaluation:
        """The evaluation over every rank's batches; a collective: every rank calls it once, with or without
        batches."""
        names = names_over_ranks(list(dict.fromkeys([metric_name, *self.sums])), place)
        zero = torch.zeros((), dtype=torch.float64, device=self.device)
        local = [self.sums.get(name, zero) for name in names] + [self.counts.get(name, zero) for name in names]
        counted = torch.tensor([self.samples, self.batches], dtype=torch.float64, device=self.device)
        totals = sum_over_ranks(torch.cat([torch.stack(local), counted]), place).tolist()
        sums, counts = totals[: len(names)], totals[len(names) : 2 * len(names)]
        means = [total / count if count else float("nan") for total, count in zip(sums, counts)]
        return Evaluation(
            metric=means[0],
            extras=dict(zip(names[1:], means[1:])),
            samples=int(totals[-2]),
            batches=int(totals[-1]),
        )
