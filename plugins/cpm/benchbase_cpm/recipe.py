"""The reference fine-tuning recipe: AdamW with decoupled weight decay and the benchmark's warmup-then-linear schedule.

The values (betas 0.9/0.999, eps 1e-8, weight decay 0.05, peak lr 5e-4, 20% warmup) are the case's parameters; the
rules are those of :mod:`benchbase_cpm.reference_rules`. It imports no torch (the case registers for every command); the
optimizer and scheduler objects are built by :mod:`benchbase_cpm.optimizer` when a rank asks for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from benchbase.contract import Recipe

if TYPE_CHECKING:
    import torch
    from torch.optim.lr_scheduler import LambdaLR


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
