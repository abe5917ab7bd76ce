"""The training loop never makes the host wait for the device inside a log interval, yet still times the core.

A device whose queue is drained every step loses the overlap of host and device work, so the loop synchronises only
where a window opens or closes: log points, evaluations, checkpoints, the end of the warm-up and the ends of the train
window. The vendor here is the CPU vendor with a counter on ``synchronize`` (counting is all it adds; the device is the
real CPU).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from benchbase.config.parameters import CoreConfig
from benchbase.record.rundir import RunDir
from benchbase.train.loop import TrainingLoop
from benchbase_cpu.vendor import CPUVendor
from line_case import FP32, LineCase, ScoreByBatch, config, engine, points


class CountingCPU(CPUVendor):
    def __init__(self) -> None:
        super().__init__()
        self.syncs = 0

    def synchronize(self, device: torch.device) -> None:
        self.syncs += 1


def syncs_of_a_run(tmp_path: Path, steps: int, log_interval: int) -> tuple[int, TrainingLoop]:
    vendor = CountingCPU()
    values = {"max_steps": steps, "log_interval": log_interval, "eval_interval_samples": 10**6, "target": 1.0}
    never_reached = ScoreByBatch([0.5] * 64)  # two evaluations of 32 batches, below the target
    trainer = TrainingLoop(
        engine(LineCase(points(256), never_reached), FP32, vendor, **values), vendor, torch.device("cpu"),
        CoreConfig.from_values(config(**values)),
        RunDir.create(tmp_path, f"run-{steps}"), None, SimpleNamespace(hook=None), 0, 1,
    )
    trainer.run()
    trainer.engine.close()
    return vendor.syncs, trainer


def test_the_number_of_syncs_depends_on_the_log_points_not_on_the_steps_between_them(tmp_path: Path) -> None:
    short, _ = syncs_of_a_run(tmp_path, steps=20, log_interval=10)
    long, trainer = syncs_of_a_run(tmp_path, steps=400, log_interval=200)
    assert short == long, "two log intervals each: the same syncs whether they hold 10 or 200 steps"
    evaluations, log_points = 2, 2  # evaluations before training and at the end
    # The train window's start, each evaluation's two ends, the restart of the rate clock after the first
    # evaluation, the end of the warm-up, the log points, the train window's end: nothing per step.
    assert long == 1 + 2 * evaluations + 1 + 1 + log_points + 1
    assert 0 < trainer.windows.core_s <= trainer.windows.train_s, "p_core is still measured"
    assert trainer.windows.data_wait_s >= 0.0


def test_the_core_window_holds_every_step_though_it_is_read_only_at_sync_points(tmp_path: Path) -> None:
    _, trainer = syncs_of_a_run(tmp_path, steps=50, log_interval=25)
    assert trainer.step == 50
    assert trainer.step_timer.collect() == pytest.approx(0.0, abs=1e-9), "nothing left uncollected at the end"
