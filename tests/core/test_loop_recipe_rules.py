"""The loop follows the case's recipe and metric: a clipping recipe's norm is on every step event, and a
lower-is-better metric converges when it falls to its target, not when it rises above it.

Real training of the two-weight ``line_case`` model on the CPU, with a real event log.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import torch

from benchbase.config.parameters import CoreConfig
from benchbase.contract import Metric
from benchbase.record.events import EventLog, read_events
from benchbase.record.rundir import RunDir
from benchbase.record.schema import STEP_GRAD_NORM_KEY
from benchbase.train.loop import CONVERGED, TrainingLoop
from benchbase_cpu.vendor import CPUVendor
from line_case import FP32, LineCase, config, engine, points
from test_gradient_clipping import clipped_case


class MeanSquaredError(Metric):
    """The batch's mean squared error: it falls as the line is fitted, so lower is better."""

    name = "mse"
    higher_is_better = False

    def score(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor], model: torch.nn.Module) -> dict:
        return {self.name: ((outputs - batch["y"]) ** 2).mean()}


class AlwaysZero(Metric):
    """A higher-is-better metric that never reaches a positive target, so the run trains its whole budget."""

    name = "zero"

    def score(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor], model: torch.nn.Module) -> dict:
        return {self.name: torch.zeros(())}


def run_loop(tmp_path: Path, case: LineCase, **values: object) -> list[dict]:
    """Train ``case`` through the loop as a rank does and return the events it wrote."""
    vendor = CPUVendor()
    settled = {"max_steps": 40, "log_interval": 5, "eval_interval_samples": 40, **values}
    run_dir = RunDir.create(tmp_path, "run")
    events = EventLog(Path(run_dir.events_path), 0)
    loop = TrainingLoop(
        engine(case, FP32, vendor, **settled), vendor, torch.device("cpu"), CoreConfig.from_values(config(**settled)),
        run_dir, events, SimpleNamespace(hook=None), 0, 1,
    )
    loop.run()
    loop.engine.close()
    events.close()
    return read_events(Path(run_dir.events_path))


def test_every_step_event_of_a_clipping_recipe_holds_the_norm_before_clipping(tmp_path: Path) -> None:
    case = clipped_case()
    case.metric = AlwaysZero()
    steps = [event for event in run_loop(tmp_path, case, target=1.0) if event["key"] == "step"]
    assert len(steps) == 8
    norms = [event["metadata"][STEP_GRAD_NORM_KEY] for event in steps]
    assert all(math.isfinite(norm) and norm > 0 for norm in norms)


def test_a_recipe_that_does_not_clip_writes_no_norm(tmp_path: Path) -> None:
    steps = [event for event in run_loop(tmp_path, LineCase(points(), AlwaysZero()), target=1.0)
             if event["key"] == "step"]
    assert steps and all(STEP_GRAD_NORM_KEY not in event["metadata"] for event in steps)


def test_a_lower_is_better_metric_converges_once_it_falls_to_its_target(tmp_path: Path) -> None:
    case = LineCase(points(), MeanSquaredError())
    events = run_loop(tmp_path, case, max_steps=400, lr=0.05, warmup=0.0, target=0.05)
    evals = [event for event in events if event["key"] == "eval"]
    assert evals[0]["value"] > 0.05, "the untrained line starts above the target: a lower bound would stop here"
    assert evals[-1]["value"] <= 0.05 and all(event["value"] > 0.05 for event in evals[:-1])
    stop = next(event for event in events if event["key"] == "train_stop")
    assert stop["value"] == CONVERGED and stop["metadata"]["converged_step"] == evals[-1]["step"] < 400
