"""The reference fine-tuning recipe: AdamW with decoupled weight decay and the benchmark's warmup-then-linear schedule.

The values (betas 0.9/0.999, eps 1e-8, weight decay 0.05, peak lr 5e-4, 20% warmup) are the case's parameters;
this module fixes only the rules, which must match the benchmark references (FlagPerf, DeepSparkHub) for convergence
step counts to be comparable with the published ones. It imports no torch (the case registers for every command);
the optimizer and scheduler objects are built by :mod:`benchbase_cpm.optimizer` when a rank asks for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from benchbase.contract import Recipe
from benchbase.errors import BenchbaseError

if TYPE_CHECKING:
    import torch
    from torch.optim.lr_scheduler import LambdaLR

BETAS = (0.9, 0.999)
EPS = 1e-8


def reference_lr(step: int, peak_lr: float, max_steps: int, warmup_fraction: float) -> float:
    """Learning rate after ``step`` schedule steps, i.e. of optimizer update ``step + 1``, as the benchmark has it.

    Both benchmark references (FlagPerf's and DeepSparkHub's ``AnnealingLR``, linear style) compute, with
    ``W = warmup_fraction * max_steps``: ``peak * n / W`` while ``n <= W``, after it
    ``peak * max(0, 1 - (n - W) / max_steps)``. Their constructor already takes schedule step 0, so update ``k``
    runs at ``lr(k - 1)`` and the very first update at 0. The decay is not capped: it keeps falling after
    ``max_steps - W`` updates (the FlagPerf A100 1x8 log shows 1.75375e-4 at step 3397 of 4000 with peak 5e-4,
    warmup 0.2). See plugins/cpm/docs/reference.md, "Learning-rate schedule".
    """
    return peak_lr * reference_factor(step, max_steps, warmup_fraction)


def reference_factor(step: int, max_steps: int, warmup_fraction: float) -> float:
    """:func:`reference_lr` over the peak: what a scheduler multiplies each group's base lr by."""
    check_schedule(max_steps, warmup_fraction)
    warmup = warmup_fraction * max_steps
    if warmup > 0 and step <= warmup:
        return step / warmup
    return max(0.0, 1.0 - (step - warmup) / max_steps)


def check_schedule(max_steps: int, warmup_fraction: float) -> None:
    """One line for a budget or warmup no schedule can follow, before any optimizer exists."""
    if max_steps < 1:
        raise BenchbaseError(f"max_steps is {max_steps}", "set max_steps to a positive number of optimizer steps")
    if not 0.0 <= warmup_fraction <= 1.0:
        raise BenchbaseError(
            f"warmup fraction {warmup_fraction} is outside [0, 1]",
            "set the warmup to a fraction of max_steps between 0 and 1, e.g. 0.2",
        )


class CPMRecipe(Recipe):
    """The case's recipe for the core trainer: AdamW at the peak lr, the reference schedule, stepped on every update
    (the benchmark trainers do not skip it on an overflowed step)."""

    schedule_steps_on_overflow = True

    def optimizer(self, groups: list[dict[str, Any]], config: Mapping[str, Any]) -> torch.optim.Optimizer:
        from benchbase_cpm.optimizer import adamw

        return adamw(groups, float(config["lr"]))

    def schedule(self, optimizer: torch.optim.Optimizer, config: Mapping[str, Any]) -> LambdaLR:
        from benchbase_cpm.optimizer import make_schedule

        return make_schedule(optimizer, float(config["lr"]), int(config["max_steps"]), float(config["warmup"]))
