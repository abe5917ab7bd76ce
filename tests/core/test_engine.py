"""The core trainer drives every case the same way: schedule and overflow rule, accumulation, evaluation, state.

The case here is a two-weight linear model written against the public contract, so each rule is visible in a few
steps; CPM's own numbers through the same engine are in tests/cpm/test_cpm_engine.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from benchbase.config import merge_parameters
from benchbase.contract import Batch, Case, DatasetSpec, Metric, ModelSpec, Param, PrecisionPolicy, Samples
from benchbase.engine import Engine, RankPlace
from benchbase_cpm.recipe import CPMRecipe, reference_lr
from benchbase_cpu.vendor import CPUVendor

FP32 = PrecisionPolicy(name="fp32", label="FP32", autocast_dtype=None, flops_dtype="fp32")
#: Loss scaling on the CPU: GradScaler works on any device type, so the overflow rule is testable here.
SCALED = PrecisionPolicy(name="fp32", label="FP32", autocast_dtype=None, flops_dtype="fp32", loss_scaling=True,
                         initial_scale=2.0**16)


class Line(ModelSpec):
    def build(self, config: Mapping[str, Any], prepared: Mapping[str, Any]) -> nn.Module:
        return nn.Linear(2, 1)

    def flops_per_sample(self, config: Mapping[str, Any], prepared: Mapping[str, Any]) -> float:
        return 12.0

    def forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return model(batch["x"]).squeeze(-1)

    def loss(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        return ((outputs - batch["y"]) ** 2).mean()


class Points(Samples):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def train_size(self) -> int:
        return len(self.x)

    def train_batch(self, indices: np.ndarray) -> Batch:
        return {"x": self.x[indices], "y": self.y[indices]}

    def eval_size(self) -> int:
        return len(self.x)

    def eval_batch(self, indices: np.ndarray) -> Batch:
        return self.train_batch(indices)


class PointsData(DatasetSpec):
    def __init__(self, samples: Points) -> None:
        self.samples = samples

    def prepare(self, config: Mapping[str, Any], data_dir: Any, cache_dir: Any, progress: Any) -> dict[str, Any]:
        return {}

    def open(self, config: Mapping[str, Any], prepared: Mapping[str, Any]) -> Samples:
        return self.samples


class ScoreByBatch(Metric):
    """Each batch's value is given by the test, NaN where the batch has nothing to score."""

    name = "given"

    def __init__(self, values: list[float]) -> None:
        self.values = iter(values)

    def score(self, outputs: torch.Tensor, batch: Batch, model: nn.Module) -> dict[str, torch.Tensor]:
        return {self.name: torch.tensor(next(self.values))}


class LineCase(Case):
    name = "line"
    model = Line()
    recipe = CPMRecipe()

    def __init__(self, samples: Points, metric: Metric | None = None) -> None:
        self.dataset = PointsData(samples)
        self.metric = metric or ScoreByBatch([])


def points(count: int = 64) -> Points:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(count, 2, generator=generator)
    return Points(x, x @ torch.tensor([2.0, -1.0]) + 0.5)


def config(**values: Any) -> dict[str, Any]:
    parameters = merge_parameters("line", {"lr": _param(5e-4), "warmup": _param(0.2), "weight_decay": _param(0.0)})
    settled = {key: param.default for key, param in parameters.items()}
    settled.update(batch_size=4, eval_batch_size=8, max_steps=4000, eval_interval_samples=1000)
    settled.update(values)
    return settled


def _param(default: float) -> Param:
    return Param(default, "a key of the recipe")


def engine(case: Case, precision: PrecisionPolicy = FP32, **values: Any) -> Engine:
    torch.manual_seed(0)
    return Engine(case, CPUVendor(), torch.device("cpu"), precision, config(**values), {}, RankPlace(0, 1),
                  lambda *args, **kwargs: None)


def lr_of_each_update(trainer: Engine, steps: int, poisoned: set[int] = frozenset()) -> list[float]:
    """Drive ``steps`` updates as the worker does; update ``k`` (1-based) in ``poisoned`` gets an inf input."""
    used = []
    for update in range(1, steps + 1):
        batch = trainer.next_batch()
        if update in poisoned:
            batch[0]["x"] = torch.full_like(batch[0]["x"], float("inf"))
        used.append(trainer.learning_rate())
        trainer.train_step(batch)
    return used


def test_the_official_schedule_through_the_engine_gives_the_published_lr_at_the_update_it_belongs_to() -> None:
    used = lr_of_each_update(engine(LineCase(points())), 4000)
    assert used[0] == 0.0
    assert used[3398 - 1] == pytest.approx(1.75375e-4, abs=1e-9)
    assert used[4000 - 1] == pytest.approx(1.00125e-4, abs=1e-9)
    assert used == [reference_lr(update - 1, 5e-4, 4000, 0.2) for update in range(1, 4001)]


def test_an_overflowed_update_is_skipped_but_the_schedule_still_advances_as_the_benchmark_does() -> None:
    trainer = engine(LineCase(points()), SCALED, max_steps=20)
    weights = []
    used = []
    for update in range(1, 13):
        batch = trainer.next_batch()
        if update in (4, 8):
            batch[0]["x"] = torch.full_like(batch[0]["x"], float("inf"))
        used.append(trainer.learning_rate())
        before = trainer.model.weight.detach().clone()
        trainer.train_step(batch)
        weights.append(torch.equal(before, trainer.model.weight))
    assert [update for update, unchanged in enumerate(weights, 1) if unchanged] == [1, 4, 8]  # lr 0, then 2 skips
    assert used[11] == pytest.approx(reference_lr(11, 5e-4, 20, 0.2), abs=1e-12)
    assert trainer.scaler.get_scale() == 2.0**14


def test_a_recipe_that_skips_the_schedule_on_overflow_falls_behind_by_the_skipped_updates() -> None:
    class DeepSpeedLike(CPMRecipe):
        schedule_steps_on_overflow = False

    case = LineCase(points())
    case.recipe = DeepSpeedLike()
    used = lr_of_each_update(engine(case, SCALED, max_steps=20), 12, poisoned={4, 8})
    assert used[11] == pytest.approx(reference_lr(9, 5e-4, 20, 0.2), abs=1e-12)


def test_accumulating_two_micro_batches_takes_the_same_step_as_one_batch_of_both() -> None:
    whole = engine(LineCase(points()), batch_size=8, lr=0.05, warmup=0.0)
    halves = engine(LineCase(points()), batch_size=4, grad_accum=2, lr=0.05, warmup=0.0)
    for _ in range(5):
        assert whole.train_step(whole.next_batch()).item() == pytest.approx(
            halves.train_step(halves.next_batch()).item(), rel=1e-6)
    torch.testing.assert_close(whole.model.weight, halves.model.weight)


def test_evaluation_is_the_mean_of_batch_means_leaving_out_batches_with_nothing_to_score() -> None:
    """64 samples in batches of 8: eight batches, two of which score nothing (NaN)."""
    values = [0.9, float("nan"), 0.5, 0.7, float("nan"), 0.6, 0.8, 1.0]
    result = engine(LineCase(points(), ScoreByBatch(values))).evaluate()
    assert result.metric == pytest.approx(np.mean([0.9, 0.5, 0.7, 0.6, 0.8, 1.0]), abs=1e-12)
    assert set(result.extras) == {"loss"}


def test_state_restores_model_optimizer_schedule_scaler_and_the_data_position() -> None:
    first = engine(LineCase(points()), SCALED, lr=0.05)
    lr_of_each_update(first, 7)
    state = first.state_dict()
    resumed = engine(LineCase(points()), SCALED, lr=0.05)
    resumed.load_state_dict(state)
    assert resumed.step == 7 and resumed.learning_rate() == first.learning_rate()
    assert resumed.scaler.get_scale() == first.scaler.get_scale()
    torch.testing.assert_close(resumed.model.weight, first.model.weight)
    (expected,), (restored,) = first.next_batch(), resumed.next_batch()
    assert torch.equal(expected["x"], restored["x"])
    assert first.train_step([expected]).item() == resumed.train_step([restored]).item()
