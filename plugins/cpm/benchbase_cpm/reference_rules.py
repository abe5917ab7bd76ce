"""The benchmark's optimizer rules: AdamW's betas and eps, and the warmup-then-linear learning-rate schedule.

They must match the benchmark references (FlagPerf, DeepSparkHub) for convergence step counts to be comparable with
the published ones. Torch-free, so that the recipe (which registers with the case for every command) and the
optimizer (built when a rank asks for it) both take them from here.
"""

from __future__ import annotations

from benchbase.errors import BenchbaseError

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
