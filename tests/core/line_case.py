"""A two-weight linear case written against the public contract, for tests of the core's rules.

Each rule of the core trainer and loop is visible in a few steps of it; nothing here stands in for hardware.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from benchbase.config.parameters import CoreConfig
from benchbase.config.resolve import merge_parameters
from benchbase.contract import Batch, Case, DatasetSpec, Metric, ModelSpec, Param, PrecisionPolicy, Samples, Vendor
from benchbase.train.engine import Engine
from benchbase.train.parallel import RankPlace
from benchbase_cpm.recipe import CPMRecipe
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


def engine(case: Case, precision: PrecisionPolicy = FP32, vendor: Vendor | None = None, **values: Any) -> Engine:
    torch.manual_seed(0)
    settled = config(**values)
    return Engine(case, vendor or CPUVendor(), torch.device("cpu"), precision, settled, CoreConfig.from_values(settled),
                  {}, RankPlace(0, 1), lambda *args, **kwargs: None)
