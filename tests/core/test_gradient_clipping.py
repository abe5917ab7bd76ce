"""A recipe's ``max_grad_norm`` clips the true gradients, after the loss scaler unscales them, and only there.

The reference is computed by hand on a copy of the same two-weight model: the gradient of the batch's mean squared
error, its global norm, the clip coefficient ``min(1, max_norm / (norm + 1e-6))`` (``clip_grad_norm_``'s), and a
plain SGD step. The engine trains under loss scaling (``GradScaler`` on the CPU) with one update overflowed, which
the scaler must still skip, leaving the weights as they were.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from benchbase.contract import Recipe
from line_case import FP32, SCALED, LineCase, engine, points

MAX_NORM = 0.5
LR = 0.1


class ClippedSGD(Recipe):
    max_grad_norm = MAX_NORM

    def optimizer(self, groups: list[dict[str, Any]], config: Mapping[str, Any]) -> torch.optim.Optimizer:
        return torch.optim.SGD(groups, lr=LR)


def clipped_case() -> LineCase:
    case = LineCase(points())
    case.recipe = ClippedSGD()
    return case


def reference_step(weight: torch.Tensor, bias: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> tuple[float, ...]:
    """One clip-then-step by hand, in float64: the new weight, the new bias and the norm before clipping."""
    x, y = batch["x"].double(), batch["y"].double()
    error = x @ weight.double().reshape(-1) + bias.double() - y
    grad_weight = 2.0 * (error[:, None] * x).mean(dim=0)
    grad_bias = 2.0 * error.mean()
    norm = math.sqrt(float((grad_weight**2).sum() + grad_bias**2))
    coefficient = min(1.0, MAX_NORM / (norm + 1e-6))
    new_weight = weight.double().reshape(-1) - LR * coefficient * grad_weight
    new_bias = bias.double() - LR * coefficient * grad_bias
    return (*new_weight.tolist(), float(new_bias), norm)


def test_a_clipped_recipe_matches_clip_then_step_by_hand_under_loss_scaling_with_an_overflow() -> None:
    trainer = engine(clipped_case(), SCALED)
    clipped_updates = 0
    for update in range(1, 9):
        batch = trainer.feed.next()
        weight, bias = trainer.model.weight.detach().clone(), trainer.model.bias.detach().clone()
        if update == 3:
            batch[0]["x"] = torch.full_like(batch[0]["x"], float("inf"))
            scale = trainer.scaler.get_scale()
            trainer.train_step(batch)
            assert torch.equal(trainer.model.weight, weight) and torch.equal(trainer.model.bias, bias)
            assert not math.isfinite(trainer.grad_norm_value()), "the skipped update's norm is recorded as it was"
            assert trainer.scaler.get_scale() == scale / 2, "the scaler saw the overflow through unscale_"
            continue
        *expected, expected_norm = reference_step(weight, bias, batch[0])
        trainer.train_step(batch)
        got = [*trainer.model.weight.detach().reshape(-1).tolist(), float(trainer.model.bias.detach())]
        assert max(abs(a - b) for a, b in zip(got, expected)) < 1e-6
        assert abs(trainer.grad_norm_value() - expected_norm) < 1e-6 * max(1.0, expected_norm)
        clipped_updates += expected_norm > MAX_NORM
    assert clipped_updates >= 5, "the threshold is low enough that clipping is what the comparison checks"


def test_the_norm_is_of_the_unscaled_gradients_so_loss_scaling_changes_nothing() -> None:
    scaled, plain = engine(clipped_case(), SCALED), engine(clipped_case(), FP32)
    for _ in range(4):
        scaled.train_step(scaled.feed.next())
        plain.train_step(plain.feed.next())
        assert abs(scaled.grad_norm_value() - plain.grad_norm_value()) < 1e-6
    torch.testing.assert_close(scaled.model.weight, plain.model.weight, rtol=0, atol=1e-6)


def test_a_recipe_without_max_grad_norm_computes_no_norm_and_records_none() -> None:
    trainer = engine(LineCase(points()), SCALED)
    trainer.train_step(trainer.feed.next())
    assert trainer.grad_norm_value() is None
