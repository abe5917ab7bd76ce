# benchbase_spirals.py
"""Two interleaved spirals told apart by a small MLP: a complete benchbase case in one module."""

import math

import numpy as np
import torch
from torch import nn

from benchbase import Case, DatasetSpec, Metric, ModelSpec, Param, Preset, Recipe, Samples, hookimpl


def spirals(count, seed):
    """``count`` noisy points on two spiral arms, labelled by arm; the same points for the same seed."""
    rng = np.random.RandomState(seed)
    arm = rng.randint(0, 2, count)
    turn = rng.uniform(0.25, 1.0, count) * 2 * math.pi
    points = np.stack([np.cos(turn + math.pi * arm), np.sin(turn + math.pi * arm)], 1) * turn[:, None] / (2 * math.pi)
    points += rng.normal(0.0, 0.02, points.shape)
    return torch.tensor(points, dtype=torch.float32), torch.tensor(arm, dtype=torch.int64)


class SpiralPoints(Samples):
    def __init__(self, config):
        self.train = spirals(4096, config["data_seed"])
        self.eval = spirals(1024, config["data_seed"] + 1)

    def train_size(self):
        return len(self.train[1])

    def train_batch(self, indices):
        return {"x": self.train[0][indices], "y": self.train[1][indices]}

    def eval_size(self):
        return len(self.eval[1])

    def eval_batch(self, indices):
        return {"x": self.eval[0][indices], "y": self.eval[1][indices]}


class SpiralData(DatasetSpec):
    def prepare(self, config, data_dir, cache_dir, progress):
        return {"train_points": 4096, "eval_points": 1024}  # generated in memory by open(): nothing to cache

    def open(self, config, prepared):
        return SpiralPoints(config)


class MLP(ModelSpec):
    def build(self, config, prepared):
        width = config["hidden"]
        return nn.Sequential(nn.Linear(2, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 2))

    def flops_per_sample(self, config, prepared):
        width = config["hidden"]
        return 6.0 * (2 * width + width * width + width * 2)  # 2 FLOPs per weight forward, 4 backward

    def forward(self, model, batch):
        return model(batch["x"])

    def loss(self, outputs, batch):
        return nn.functional.cross_entropy(outputs.float(), batch["y"])


class AdamRecipe(Recipe):
    def optimizer(self, groups, config):
        return torch.optim.Adam(groups, lr=config["lr"])


class Accuracy(Metric):
    name = "accuracy"

    def score(self, outputs, batch, model):
        return {self.name: (outputs.argmax(dim=-1) == batch["y"]).double().mean()}


class SpiralsCase(Case):
    name = "spirals"
    description = "Two interleaved spirals told apart by a small MLP; metric: accuracy"
    model, dataset, recipe, metric = MLP(), SpiralData(), AdamRecipe(), Accuracy()

    def parameters(self):  # the case's own keys; the model and the data are immutable, they define the workload
        return {
            "hidden": Param(64, "width of the two hidden layers", mutable=False, minimum=1),
            "data_seed": Param(7, "seed of the generated points", mutable=False),
            "lr": Param(0.01, "Adam learning rate", minimum=0.0),
        }

    def defaults(self):  # the case's values of the core keys every case has
        return {"target": 0.95, "batch_size": 64, "eval_batch_size": 256, "eval_interval_samples": 640,
                "max_steps": 1000}

    def presets(self):
        return {"default": Preset("default", "target accuracy 0.95"),
                "quick": Preset("quick", "target accuracy 0.9, for a smoke test", {"target": 0.9})}


@hookimpl
def benchbase_register_cases(register):
    register(SpiralsCase())
