"""The README's spirals case scored by perplexity, a metric that is better when lower: the test plugin behind
tests/cli/test_lower_is_better_case.py.

Perplexity is ``exp`` of the batch's mean cross-entropy: 2.0 for a guess between the two arms, 1.0 for a model
sure and right. The target 1.25 is an upper bound the run must fall to. Its recipe also clips the gradient norm,
so the same real run shows the norm on its step events. The MLPerf profile maps it to a benchmark of its own with
a small ruleset (``spirals_ppl.yaml``) whose target check is an upper bound, as MLPerf's own lower-is-better
benchmarks (a log perplexity, an eval loss) check theirs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from benchbase import Metric, Preset, hookimpl
from benchbase.kit import CONFIG_FILE, STATED, CaseProfile
from benchbase_spirals import AdamRecipe, SpiralsCase

TARGET = 1.25


class Perplexity(Metric):
    name = "perplexity"
    higher_is_better = False

    def score(self, outputs, batch, model):
        return {self.name: torch.exp(nn.functional.cross_entropy(outputs.float(), batch["y"])).double()}


class ClippedAdam(AdamRecipe):
    max_grad_norm = 1.0


class SpiralsPerplexityCase(SpiralsCase):
    name = "spirals-ppl"
    description = "The spirals case scored by perplexity (lower is better); a test plugin"
    recipe, metric = ClippedAdam(), Perplexity()

    def defaults(self):
        return {**super().defaults(), "target": TARGET}

    def presets(self):
        return {"default": Preset("default", f"target perplexity {TARGET} or lower")}


def hyperparameters(values):
    return [("opt_name", "adam", STATED), ("opt_base_learning_rate", values["lr"], CONFIG_FILE)]


PROFILE = CaseProfile(
    case=SpiralsPerplexityCase.name,
    benchmarks={"default": "spirals_ppl"},
    ruleset=Path(__file__).resolve().parent / "spirals_ppl.yaml",
    hyperparameters=hyperparameters,
    train_samples=("prepare", "train_points"),
    eval_samples=("prepare", "eval_points"),
)


@hookimpl
def benchbase_register_cases(register):
    register(SpiralsPerplexityCase())


@hookimpl
def benchbase_mlperf_profile(case):
    return PROFILE if case == SpiralsPerplexityCase.name else None
