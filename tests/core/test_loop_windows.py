"""The loop's windows under real conditions: a slow first step stays out of p_train, step rates leave evaluations
out, and a non-finite loss at any step ends the run as ``diverged``.

The case is the two-weight line of :mod:`line_case` trained for real on the CPU; where a test needs a step or an
evaluation of known cost, the model or the metric sleeps (a stand-in for a compiled first step or a long
evaluation: sleeping is the one cost that a busy host can lengthen but never shorten). Every expected number is
recomputed here from the run's own ``events.jsonl``, never through :mod:`benchbase.record.summary`. The last tests
check the arithmetic of an attempt's windows on a clock the test sets.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn

from benchbase.config.parameters import CoreConfig
from benchbase.contract import Batch
from benchbase.record.events import EventLog, read_events
from benchbase.record.rundir import RunDir
from benchbase.record.summary import build_summary
from benchbase.train.loop import TrainingLoop
from benchbase.train.timing import Attempt, Windows
from benchbase_cpu.vendor import CPUVendor
from line_case import FP32, SCALED, Line, LineCase, ScoreByBatch, config, engine, points

#: Evaluation batches per evaluation: 64 points in evaluation batches of 8.
EVAL_BATCHES = 8
#: Samples per step: the line case's batch of 4 on one rank.
BATCH = 4


class SleepyLine(Line):
    """The line model whose training forward sleeps: ``first_s`` at the first step, ``each_s`` at every other."""

    def __init__(self, first_s: float = 0.0, each_s: float = 0.0) -> None:
        self.first_s, self.each_s, self.calls = first_s, each_s, 0

    def forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        if model.training:
            self.calls += 1
            time.sleep(self.first_s if self.calls == 1 else self.each_s)
        return super().forward(model, batch)


class PoisonedLine(Line):
    """The line model whose training outputs at the given steps are scaled by ``factor`` (inf gives a NaN loss)."""

    def __init__(self, steps: set[int], factor: float) -> None:
        self.steps, self.factor, self.calls = steps, factor, 0

    def forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        outputs = super().forward(model, batch)
        if model.training:
            self.calls += 1
            if self.calls in self.steps:
                return outputs * self.factor
        return outputs


class SlowScore(ScoreByBatch):
    """Scores ``value`` for every batch and sleeps so that each evaluation takes at least ``eval_s``."""

    def __init__(self, value: float, eval_s: float, evaluations: int = 100) -> None:
        super().__init__([value] * EVAL_BATCHES * evaluations)
        self.batch_s = eval_s / EVAL_BATCHES

    def score(self, outputs: torch.Tensor, batch: Batch, model: nn.Module) -> dict[str, torch.Tensor]:
        time.sleep(self.batch_s)
        return super().score(outputs, batch, model)


def train(tmp_path: Path, name: str, model: Line, metric: ScoreByBatch, precision: Any = FP32,
          **values: Any) -> tuple[TrainingLoop, RunDir, str]:
    """Train the line case through the real loop into a run folder of its own; returns the loop, folder and reason."""
    case = LineCase(points(64), metric)
    case.model = model
    vendor = CPUVendor()
    run_dir = RunDir.create(tmp_path, name)
    events = EventLog(Path(run_dir.events_path), 0)
    trainer = TrainingLoop(
        engine(case, precision, vendor, **values), vendor, torch.device("cpu"), CoreConfig.from_values(config(**values)),
        run_dir, events, SimpleNamespace(hook=None), 0, 1,
    )
    try:
        trainer.emit("run_start", name, world_size=1, global_batch=BATCH, flops_per_sample=12.0, target=values["target"])
        reason = trainer.run()
    finally:
        events.close()
        trainer.engine.close()
    return trainer, run_dir, reason


def raw_events(run_dir: RunDir) -> list[dict[str, Any]]:
    """The event log as JSON lines, read without benchbase's readers."""
    return [json.loads(line) for line in Path(run_dir.events_path).read_text().splitlines()]


def summary_of(run_dir: RunDir, status: str) -> dict[str, Any]:
    base = {"run_id": run_dir.path.name, "case": "line", "vendor": "cpu", "official": False, "status": status}
    return build_summary(run_dir, base)


def only(events: list[dict[str, Any]], key: str) -> dict[str, Any]:
    (event,) = [e for e in events if e["key"] == key]
    return event


# -- warm-up ------------------------------------------------------------------------------------------------------

#: 30 steps, a log every 5, an evaluation every 10 (40 samples / batch 4); the last evaluation reaches the target.
WARMUP_RUN = {"max_steps": 30, "log_interval": 5, "eval_interval_samples": 40, "target": 0.9}
STEP_S, FIRST_STEP_S = 0.02, 2.0


def reaching_at_the_last_evaluation() -> ScoreByBatch:
    return ScoreByBatch([0.0] * EVAL_BATCHES * 3 + [1.0] * EVAL_BATCHES)


def steady_seconds_from_the_clock(events: list[dict[str, Any]]) -> float:
    """The steady train window by the wall clock: warm-up end to train end, less the evaluations inside it."""
    meta = only(events, "windows")["metadata"]
    (warmup,) = meta["warmup_intervals_ms"]
    begin, end = warmup[1], meta["train_end_ms"]
    inside = sum(min(e, end) - max(s, begin) for s, e in meta["eval_intervals_ms"] if e > begin and s < end)
    return (end - begin - inside) / 1000


def test_a_slow_first_step_is_the_warm_up_window_and_leaves_p_train_as_it_was(tmp_path: Path) -> None:
    _, slow_dir, slow_reason = train(tmp_path, "slow", SleepyLine(FIRST_STEP_S, STEP_S), reaching_at_the_last_evaluation(),
                                     **WARMUP_RUN)
    _, quick_dir, _ = train(tmp_path, "quick", SleepyLine(STEP_S, STEP_S), reaching_at_the_last_evaluation(),
                            **WARMUP_RUN)
    assert slow_reason == "converged"
    events = raw_events(slow_dir)
    windows = only(events, "windows")
    value, meta = windows["value"], windows["metadata"]
    assert meta["warmup_steps"] == 2 and meta["warmup_samples"] == 2 * BATCH, "the default warm-up: two steps"
    assert value["warmup_s"] >= FIRST_STEP_S
    summary = summary_of(slow_dir, "converged")

    # p_train recomputed from the record: the samples after the warm-up over the steady window.
    p_train = (30 * BATCH - meta["warmup_samples"]) / value["train_s"]
    assert summary["throughput"]["p_train"] == pytest.approx(p_train, rel=1e-9)
    assert value["train_s"] == pytest.approx(steady_seconds_from_the_clock(events), rel=0.1, abs=0.05)
    # Each steady step sleeps STEP_S, so no honest p_train exceeds BATCH / STEP_S; with the first step's two
    # seconds inside, it would be below a third of that.
    assert p_train <= BATCH / STEP_S
    with_the_warm_up = 30 * BATCH / (value["train_s"] + value["warmup_s"])
    assert with_the_warm_up < p_train / 3
    quick = summary_of(quick_dir, "converged")["throughput"]["p_train"]
    assert 2 / 3 < p_train / quick < 3 / 2, "the same steady steps give the same p_train"

    # Time to target still counts from the run's start, warm-up included.
    stop = only(events, "train_stop")["metadata"]
    assert stop["time_to_target_s"] >= FIRST_STEP_S + value["train_s"]
    assert summary["time_to_target_s"] == stop["time_to_target_s"]


def test_the_windows_of_an_attempt_add_up_to_its_whole_window(tmp_path: Path) -> None:
    _, run_dir, _ = train(tmp_path, "parts", SleepyLine(0.2, 0.005), reaching_at_the_last_evaluation(),
                          **WARMUP_RUN, checkpoint_every=7)
    value = only(raw_events(run_dir), "windows")["value"]
    parts = value["warmup_s"] + value["train_s"] + value["eval_s"] + value["checkpoint_s"]
    assert parts == pytest.approx(value["whole_s"], abs=1e-5), "warm-up, steady, evaluation, checkpoint: no overlap"
    assert 0 < value["core_s"] <= value["train_s"], "the steady steps' core time only"


def test_a_budget_spent_inside_the_warm_up_gives_no_p_train_rather_than_a_wrong_one(tmp_path: Path) -> None:
    _, run_dir, reason = train(tmp_path, "short", SleepyLine(), ScoreByBatch([0.0] * EVAL_BATCHES * 2),
                                     **{**WARMUP_RUN, "max_steps": 1})
    assert reason == "max_steps"
    windows = only(raw_events(run_dir), "windows")
    assert windows["metadata"]["warmup_samples"] == BATCH and windows["value"]["train_s"] == 0.0
    throughput = summary_of(run_dir, "not_converged")["throughput"]
    assert throughput["p_train"] is None and throughput["p_core"] is None
    assert throughput["p_whole"] == pytest.approx(BATCH / windows["value"]["whole_s"], rel=1e-9)


def test_no_warm_up_when_the_key_is_zero(tmp_path: Path) -> None:
    _, run_dir, _ = train(tmp_path, "none", SleepyLine(), reaching_at_the_last_evaluation(),
                          **WARMUP_RUN, warmup_steps=0)
    windows = only(raw_events(run_dir), "windows")
    assert windows["metadata"]["warmup_samples"] == 0 and windows["value"]["warmup_s"] == 0.0
    assert summary_of(run_dir, "converged")["throughput"]["p_train"] == pytest.approx(
        30 * BATCH / windows["value"]["train_s"], rel=1e-9)


# -- step rates ---------------------------------------------------------------------------------------------------

def test_a_step_rate_after_an_evaluation_leaves_the_evaluation_out(tmp_path: Path) -> None:
    """Evaluations of 0.5 s between logs of five 0.02 s steps: a rate that held them would drop to a sixth."""
    _, run_dir, _ = train(tmp_path, "rates", SleepyLine(STEP_S, STEP_S), SlowScore(0.0, 0.5),
                          **{**WARMUP_RUN, "max_steps": 40})
    events = raw_events(run_dir)
    evals = [e["metadata"] for e in events if e["key"] == "eval"]
    steps = [e for e in events if e["key"] == "step"]
    rates = {}
    for before, after in zip(steps, steps[1:]):
        begin, end = before["time_ms"], after["time_ms"]
        evaluating = sum(e["end_ms"] - e["start_ms"] for e in evals if begin <= e["start_ms"] and e["end_ms"] <= end)
        trained = (end - begin - evaluating) / 1000
        expected = (after["samples"] - before["samples"]) / trained
        assert after["metadata"]["samples_per_s"] == pytest.approx(expected, rel=0.3), after["step"]
        rates[after["step"]] = after["metadata"]["samples_per_s"]
    after_an_evaluation = [rates[step] for step in (15, 25, 35)]
    assert min(after_an_evaluation) > 0.6 * statistics.median(rates.values()), rates


# -- divergence ---------------------------------------------------------------------------------------------------

def test_a_nan_loss_between_log_points_ends_the_run_at_the_next_one_without_evaluating(tmp_path: Path) -> None:
    run = {"max_steps": 40, "log_interval": 5, "eval_interval_samples": 10**6, "target": 0.9}
    trainer, run_dir, reason = train(tmp_path, "nan", PoisonedLine({7}, math.inf), ScoreByBatch([0.0] * 64), **run)
    assert reason == "diverged" and trainer.step == 10, "found at the log point after step 7"
    events = read_events(Path(run_dir.events_path))
    stop = only(events, "train_stop")
    assert stop["value"] == "diverged" and stop["metadata"]["diverged_step"] == 7
    assert [e["step"] for e in events if e["key"] == "eval"] == [0], "no evaluation after the divergence"
    assert math.isnan([e for e in events if e["key"] == "step"][-1]["value"]), "the NaN loss is logged as it was"


def test_a_nan_loss_is_found_at_the_next_evaluation_when_it_comes_before_the_next_log(tmp_path: Path) -> None:
    run = {"max_steps": 40, "log_interval": 10, "eval_interval_samples": 4 * BATCH, "target": 0.9}
    trainer, run_dir, reason = train(tmp_path, "nan-eval", PoisonedLine({6}, math.inf), ScoreByBatch([0.0] * 64),
                                     **run)
    assert reason == "diverged" and trainer.step == 8
    events = read_events(Path(run_dir.events_path))
    assert only(events, "train_stop")["metadata"]["diverged_step"] == 6
    assert [e["step"] for e in events if e["key"] == "eval"] == [0, 4]


def test_a_nan_loss_at_the_last_step_ends_the_run_as_diverged_not_as_a_spent_budget(tmp_path: Path) -> None:
    run = {"max_steps": 9, "log_interval": 5, "eval_interval_samples": 10**6, "target": 0.9}
    _, run_dir, reason = train(tmp_path, "nan-last", PoisonedLine({9}, math.inf), ScoreByBatch([0.0] * 64), **run)
    assert reason == "diverged"
    events = read_events(Path(run_dir.events_path))
    assert only(events, "train_stop")["metadata"]["diverged_step"] == 9
    assert [e["step"] for e in events if e["key"] == "eval"] == [0], "the final evaluation is not run"


def test_an_update_the_loss_scaler_skips_for_overflowing_gradients_is_not_a_divergence(tmp_path: Path) -> None:
    """Outputs near 1e18 give a finite loss (below 1e37) whose scaled value (x 2**16) overflows: the scaler skips."""
    run = {"max_steps": 10, "log_interval": 5, "eval_interval_samples": 10**6, "target": 0.9}
    trainer, run_dir, reason = train(tmp_path, "overflow", PoisonedLine({3}, 1e18), ScoreByBatch([0.0] * 64),
                                     SCALED, **run)
    assert trainer.engine.scaler.get_scale() < 2.0**16, "the scaler saw the overflow and skipped that update"
    assert reason == "max_steps"
    assert only(read_events(Path(run_dir.events_path)), "train_stop")["metadata"]["diverged_step"] is None


def _train_one_rank_of_two(rank: int, folder: str, poisoned_step: int, queue: Any) -> None:
    """One of two gloo ranks training the line case through the real loop; only rank 1's loss is poisoned."""
    import torch.distributed as dist

    from benchbase.train.engine import Engine
    from benchbase.train.parallel import RankPlace

    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    try:
        values = {"max_steps": 40, "log_interval": 5, "eval_interval_samples": 10**6, "target": 0.9}
        case = LineCase(points(64), ScoreByBatch([0.0] * 64))
        case.model = PoisonedLine({poisoned_step} if rank == 1 else set(), math.inf)
        settled = config(**values)
        vendor, device = CPUVendor(), torch.device("cpu")
        torch.manual_seed(0)
        core = CoreConfig.from_values(settled)
        trainer_engine = Engine(case, vendor, device, FP32, settled, core, {}, RankPlace(rank, 2),
                                lambda *args, **kwargs: None)
        run_dir = RunDir(Path(folder) / "run")
        events = EventLog(Path(run_dir.events_path), rank) if rank == 0 else None
        trainer = TrainingLoop(trainer_engine, vendor, device, core, run_dir, events, SimpleNamespace(hook=None), rank, 2)
        reason = trainer.run()
        if events is not None:
            events.close()
        queue.put((rank, reason, trainer.step, trainer.divergence.first_step))
        trainer.engine.close()
    finally:
        dist.destroy_process_group()


def test_every_rank_stops_at_the_same_step_when_only_one_rank_saw_the_nan(tmp_path: Path) -> None:
    RunDir.create(tmp_path, "run")
    context = torch.multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_train_one_rank_of_two, args=(rank, str(tmp_path), 6, queue)) for rank in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    results = sorted(queue.get(timeout=5) for _ in workers)
    assert results == [(0, "diverged", 10, 6), (1, "diverged", 10, 6)], "both ranks agree on the first NaN step"
    stop = only(read_events(tmp_path / "run" / "events.jsonl"), "train_stop")
    assert stop["metadata"]["diverged_step"] == 6


# -- the arithmetic of an attempt, on a clock the test sets --------------------------------------------------------

def test_an_attempt_splits_its_window_into_warm_up_steady_training_evaluation_and_checkpoints() -> None:
    """Seconds and wall-clock ms on one made-up clock: 0 s is 1000 ms."""
    windows = Windows(warmup_steps=2)
    attempt = Attempt(windows, 0.0, 1000.0, samples=0)
    windows.eval_s += 1.0  # the evaluation before training, inside the warm-up's span
    attempt.end_warmup(3.0, 4000.0, samples=8)
    windows.checkpoint_s += 0.5  # a checkpoint in the steady part
    saved = attempt.snapshot(5.0, 6000.0, samples=16)
    attempt.close(10.0, 11000.0, samples=40)

    assert (windows.warmup_s, windows.train_s, windows.whole_s) == (2.0, 6.5, 10.0)
    assert windows.warmup_samples == 8 and windows.warmup_intervals_ms == [[1000.0, 4000.0]]
    assert windows.to_event()[1]["attempts_ms"] == [[1000.0, 11000.0]]
    # The checkpoint's copy is the attempt cut at 5 s: the next attempt continues from there.
    assert (saved.warmup_s, saved.train_s, saved.whole_s) == (2.0, 1.5, 5.0)
    assert saved.previous_attempts_ms == [[1000.0, 6000.0]] and saved.train_start_ms is None


def test_a_checkpoint_written_before_warm_ups_were_recorded_resumes_with_its_training_as_steady() -> None:
    """Such a checkpoint kept no steady time (it was derived at the end); its samples count as steady in p_train."""
    older = {"init_s": 1.0, "train_s": 0.0, "eval_s": 2.0, "core_s": 5.0, "whole_s": 9.0, "checkpoint_s": 0.5,
             "data_wait_s": 0.0, "events_cpu_s": 0.0, "train_start_ms": 1000.0, "train_end_ms": None,
             "eval_intervals_ms": [[1000.0, 3000.0]]}
    windows = Windows.from_state(older)
    assert windows.train_s == 6.5 and windows.warmup_samples == 0 and windows.previous_attempts_ms == []
