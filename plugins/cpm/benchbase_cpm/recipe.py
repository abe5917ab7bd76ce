"""The reference fine-tuning recipe: AdamW with decoupled weight decay and the benchmark's warmup-then-linear schedule.

The values (betas 0.9/0.999, eps 1e-8, weight decay 0.05, peak lr 5e-4, 20% warmup) are the case's parameters;
this module fixes only the rules, which must match the benchmark references (FlagPerf, DeepSparkHub) for convergence
step counts to be comparable with the published ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from benchbase.contract import Recipe
from benchbase.errors import BenchbaseError

BETAS = (0.9, 0.999)
EPS = 1e-8


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: decay on weight matrices and embeddings, none on biases and LayerNorm parameters.

    The rule is Megatron-LM's ``get_params_for_weight_decay_optimization`` (by module type, not by shape), which
    CPM-Generate's fine-tuning uses. Tied parameters appear once.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            if isinstance(module, nn.LayerNorm) or name == "bias":
                no_decay.append(param)
            else:
                decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(
    model: nn.Module, lr: float, weight_decay: float, *, fused: bool | None = None
) -> torch.optim.AdamW:
    """AdamW over :func:`parameter_groups` of ``model`` (the form the benchmarks in ``benchmarks/`` use)."""
    return adamw(parameter_groups(model, weight_decay), lr, fused=fused)


def adamw(groups: list[dict[str, Any]], lr: float, *, fused: bool | None = None) -> torch.optim.AdamW:
    """AdamW with the reference's betas and eps, with torch's fused kernel wherever this torch has one.

    The fused kernel updates every parameter in one pass instead of several elementwise operators per tensor: on
    CUDA one launch instead of many (there since torch 2.0); on CPU (since torch 2.4) 16.6 ms instead of 89 ms
    for a 35M-parameter model on 2 cores, measured here, about 3.5% of that model's training step. On torch 2.3,
    which this project still allows, the CPU has no fused kernel and keeps the default implementation. ``fused``
    lets a caller force the choice either way, e.g. off for a CUDA-compatible stack that lacks the kernel.
    """
    if fused is None:
        first = next((p for group in groups for p in group["params"]), None)
        fused = first is not None and has_fused_adamw(first.device)
    extra = {"fused": True} if fused else {}
    return torch.optim.AdamW(groups, lr=lr, betas=BETAS, eps=EPS, **extra)


def has_fused_adamw(device: torch.device) -> bool:
    """Whether this torch build has a fused AdamW kernel for ``device``'s type."""
    return device.type == "cuda" or (device.type == "cpu" and torch.__version__ >= (2, 4))


def reference_lr(step: int, peak_lr: float, max_steps: int, warmup_fraction: float) -> float:
    """Learning rate after ``step`` schedule steps, i.e. of optimizer update ``step + 1``, as the benchmark has it.

    Both benchmark references (FlagPerf's and DeepSparkHub's ``AnnealingLR``, linear style) compute, with
    ``W = warmup_fraction * max_steps``: ``peak * n / W`` while ``n <= W``, after it
    ``peak * max(0, 1 - (n - W) / max_steps)``. Their constructor already takes schedule step 0, so update ``k``
    runs at ``lr(k - 1)`` and the very first update at 0. The decay is not capped: it keeps falling after
    ``max_steps - W`` updates (the FlagPerf A100 1x8 log shows 1.75375e-4 at step 3397 of 4000 with peak 5e-4,
    warmup 0.2). See plugins/cpm/docs/reference.md, "Learning-rate schedule".
    """
    return peak_lr * _reference_factor(step, max_steps, warmup_fraction)


def _reference_factor(step: int, max_steps: int, warmup_fraction: float) -> float:
    _check_schedule(max_steps, warmup_fraction)
    warmup = warmup_fraction * max_steps
    if warmup > 0 and step <= warmup:
        return step / warmup
    return max(0.0, 1.0 - (step - warmup) / max_steps)


def _check_schedule(max_steps: int, warmup_fraction: float) -> None:
    if max_steps < 1:
        raise BenchbaseError(f"max_steps is {max_steps}", "set max_steps to a positive number of optimizer steps")
    if not 0.0 <= warmup_fraction <= 1.0:
        raise BenchbaseError(
            f"warmup fraction {warmup_fraction} is outside [0, 1]",
            "set the warmup to a fraction of max_steps between 0 and 1, e.g. 0.2",
        )


def make_schedule(optimizer: torch.optim.Optimizer, peak_lr: float, max_steps: int, warmup_fraction: float) -> LambdaLR:
    """A scheduler that sets every group's lr to :func:`reference_lr` of the update about to happen.

    Call ``scheduler.step()`` after every optimizer update, skipped or not: the benchmark's trainer steps its
    schedule on every iteration, also when the loss scaler found an overflow and skipped the update (skipping the
    schedule too is DeepSpeed's and CPM-1-Finetune's behaviour, not the benchmark's). Each group's base lr is set to ``peak_lr`` here,
    so the scheduler's product base * factor is the same float as :func:`reference_lr`.
    """
    _check_schedule(max_steps, warmup_fraction)
    for group in optimizer.param_groups:
        group["lr"] = peak_lr
        group["initial_lr"] = peak_lr
    return LambdaLR(optimizer, lambda step: _reference_factor(step, max_steps, warmup_fraction))


class CPMRecipe(Recipe):
    """The case's recipe for the core trainer: AdamW at the peak lr, the reference schedule, stepped on every update
    (the benchmark trainers do not skip it on an overflowed step)."""

    schedule_steps_on_overflow = True

    def optimizer(self, groups: list[dict[str, Any]], config: Mapping[str, Any]) -> torch.optim.Optimizer:
        return adamw(groups, float(config["lr"]))

    def schedule(self, optimizer: torch.optim.Optimizer, config: Mapping[str, Any]) -> LambdaLR:
        return make_schedule(optimizer, float(config["lr"]), int(config["max_steps"]), float(config["warmup"]))
