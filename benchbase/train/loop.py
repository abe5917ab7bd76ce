"""The training loop of one rank: cadence, stop rules, timing windows and the events that record them.

The case supplies the step and the metric (through :class:`benchbase.train.engine.Engine`); the loop decides when to
log, evaluate and checkpoint, when the target is reached and when the budget is spent, so that every case is
measured by the same rules. :meth:`TrainingLoop.run` reads as that sequence; each part is one call.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from benchbase.config.parameters import CoreConfig
from benchbase.contract import Vendor
from benchbase.record.events import EventLog
from benchbase.record.rundir import RunDir
from benchbase.record.schema import STEP_GRAD_NORM_KEY
from benchbase.record.target import reaches
from benchbase.registry.plugins import Registry
from benchbase.train.checkpoint import Checkpoints
from benchbase.train.divergence import DivergenceWatch
from benchbase.train.engine import Engine
from benchbase.train.observers import Observers
from benchbase.train.parallel import gather_floats, mean_and_min
from benchbase.train.timing import Attempt, Stopwatch, Windows

CONVERGED = "converged"
#: A training loss that was not finite: the run ends at the next point the loop reads the flag.
DIVERGED = "diverged"
#: The stop reasons of a budget spent: the run evaluates once more unless it just did.
BUDGETS = ("max_steps", "max_samples")


class TrainingLoop:
    """One rank's loop around the engine, with its windows, stop rules and events."""

    def __init__(
        self,
        engine: Engine,
        vendor: Vendor,
        device: torch.device,
        core: CoreConfig,
        run_dir: RunDir,
        events: EventLog | None,
        registry: Registry,
        rank: int,
        world_size: int,
    ) -> None:
        self.engine = engine
        self.vendor = vendor
        self.device = device
        self.core = core
        self.events = events
        self.world_size = world_size
        self.checkpoints = Checkpoints(Path(run_dir.checkpoint_dir), rank, world_size, vendor, device)
        #: Evaluate every ``ceil(eval_interval_samples / global batch)`` steps, so the cadence is in samples.
        self.eval_every = max(1, math.ceil(core.eval_interval_samples / engine.global_batch))
        self.watch = Stopwatch(lambda: vendor.synchronize(device))
        self.step_timer = vendor.step_timer(device)
        self.windows = Windows(warmup_steps=core.warmup_steps)
        self.divergence = DivergenceWatch(device)
        #: The attempt this process trains, from the train window's start; ``None`` before it.
        self.attempt: Attempt | None = None
        self._warmup_until = 0
        #: The lifecycle hooks, called on rank 0 only; one that raises is recorded and never fails the run.
        self.observers = Observers(registry.hook if rank == 0 else None, self.emit)
        self.step = 0
        self.samples = 0
        self.last_eval_step: int | None = None
        self.converged_step: int | None = None
        self.converged_samples: int | None = None
        self.time_to_target_s: float | None = None
        self.metric: float | None = None
        self.finished = False
        # Where the rate of the next step event is measured from: the clock and the samples at the last log point.
        self._log_time = 0.0
        self._log_samples = 0

    # -- the loop -----------------------------------------------------------------------------------------------------
    def run(self) -> str:
        """Train until the target, the budget or a non-finite loss; returns the stop reason."""
        self._open_train_window()
        if self.last_eval_step is None and self.evaluate():
            return self._finish(CONVERGED)
        self._restart_rate(self.sync_point())
        reason: str | None = None
        while reason is None:
            reason = self._budget_spent() or self._train_one_step()
        if reason in BUDGETS and self.last_eval_step != self.step:
            if self._diverged():
                reason = DIVERGED
            elif self.evaluate():
                reason = CONVERGED
        return self._finish(reason)

    @property
    def whole_start(self) -> float | None:
        """The clock at this attempt's train window start; ``None`` before training began."""
        return self.attempt.start if self.attempt is not None else None

    def _open_train_window(self) -> None:
        """Start this attempt's train window, and with it its warm-up (every attempt warms up again: a resumed
        process compiles, allocates and autotunes anew)."""
        self.attempt = Attempt(self.windows, self.watch.now(), time.time() * 1000, self.samples)
        self._warmup_until = self.step + self.core.warmup_steps
        if self.core.warmup_steps == 0:
            self.attempt.end_warmup(self.attempt.start, self.attempt.start_ms, self.samples)

    def _budget_spent(self) -> str | None:
        """``max_steps`` or ``max_samples`` when that budget is used up, else ``None``."""
        if self.step >= self.core.max_steps:
            return "max_steps"
        if self.core.max_samples and self.samples >= self.core.max_samples:
            return "max_samples"
        return None

    def _train_one_step(self) -> str | None:
        """One optimizer step and what follows it at this step (warm-up end, log, evaluation, checkpoint); returns
        the stop reason it ends the run with, if any."""
        batch = self.engine.feed.next()
        self.step_timer.start()
        loss = self.engine.train_step(batch)
        self.step_timer.stop()
        self.step += 1
        self.samples += self.engine.global_batch
        self.divergence.track(loss, self.step)
        if self.attempt is not None and self.attempt.warming_up and self.step >= self._warmup_until:
            self._end_warmup(self.attempt)
        if self.step % self.core.log_interval == 0 and self._log_step(loss):
            return DIVERGED
        if self.step % self.eval_every == 0:
            if self._diverged():
                return DIVERGED
            if self.evaluate():
                return CONVERGED
        if self.core.checkpoint_every and self.step % self.core.checkpoint_every == 0:
            if self._diverged():
                return DIVERGED
            self.save_checkpoint()
        return None

    def _end_warmup(self, attempt: Attempt) -> None:
        """Close the warm-up at a sync point of its own, so its last step's queued work is inside it."""
        attempt.end_warmup(self.sync_point(), time.time() * 1000, self.samples)

    def _diverged(self) -> bool:
        """Whether any rank's loss was not finite at any step so far; read once per step at most, and by every
        rank at the same steps (they share the cadence), so the collective always meets."""
        if not self.divergence.read_at(self.step):
            _, first = mean_and_min(torch.zeros((), device=self.device), self.divergence.flag, self.world_size)
            self.divergence.settle(first, self.step)
        return self.divergence.first_step is not None

    def _log_step(self, loss: torch.Tensor) -> bool:
        """The ``step`` event: the loss averaged over ranks, the rate of the training since the last log point, the
        next lr. Returns True when a non-finite loss was seen (the divergence flag travels with the loss)."""
        now = self.sync_point()
        rate = (self.samples - self._log_samples) / max(now - self._log_time, 1e-9)
        loss_value, first = mean_and_min(loss.float(), self.divergence.flag, self.world_size)
        lr = self.engine.learning_rate()
        grad_norm = self.engine.grad_norm_value()
        clipping = {} if grad_norm is None else {STEP_GRAD_NORM_KEY: grad_norm}
        self.emit("step", loss_value, samples_per_s=round(rate, 4), lr=lr, **clipping)
        self.observers.call("benchbase_step", step=self.step, samples=self.samples, loss=loss_value, samples_per_s=rate)
        # Nothing is queued on the device after the log point's own sync, so the clock alone is exact here.
        self._restart_rate(self.watch.clock())
        return self.divergence.settle(first, self.step)

    def _restart_rate(self, now: float) -> None:
        self._log_time, self._log_samples = now, self.samples

    def _pause_rate(self, seconds: float) -> None:
        """Leave an evaluation or a checkpoint out of the next step event's rate: it measures training only."""
        self._log_time += seconds

    def _finish(self, reason: str) -> str:
        self.close_windows()
        self.emit(
            "train_stop",
            reason,
            converged_step=self.converged_step,
            converged_samples=self.converged_samples,
            time_to_target_s=self.time_to_target_s,
            diverged_step=self.divergence.first_step,
        )
        return reason

    # -- events -------------------------------------------------------------------------------------------------------
    def emit(self, key: str, value: Any = None, **metadata: Any) -> None:
        """Write an event and tell the observers; the CPU this costs is counted as the harness's own."""
        if self.events is None:
            return
        started = time.thread_time()
        event = self.events.emit(key, value, step=self.step, samples=self.samples, **metadata)
        self.observers.call("benchbase_event", event=event)
        self.windows.events_cpu_s += time.thread_time() - started

    # -- timing -------------------------------------------------------------------------------------------------------
    def sync_point(self) -> float:
        """Synchronise the device and read the clock; fold in the core time and data waits since the last point.

        The loop synchronises only here (log points, evaluations, checkpoints, the end of the warm-up, the ends of the
        train window), never per step, so a device's launch queue keeps running ahead of the host between log points.
        """
        now = self.watch.now()
        core_s, data_wait_s = self.step_timer.collect(), self.engine.feed.take_wait_s()
        # The warm-up's steps are left out of the steady windows, as its samples are left out of p_train.
        if self.attempt is None or not self.attempt.warming_up:
            self.windows.core_s += core_s
            self.windows.data_wait_s += data_wait_s
        return now

    def close_windows(self, gather: bool = True) -> None:
        """Add this attempt's windows (cumulative across a resume) and emit the ``windows`` event.

        ``gather=False`` on an interrupt: another rank may already be gone, and a collective would hang.
        """
        if self.finished or self.attempt is None:
            return
        self.finished = True
        self.attempt.close(self.sync_point(), time.time() * 1000, self.samples)
        peak = self.vendor.peak_memory_gib(self.device)
        local = peak if peak is not None else float("nan")
        peaks = gather_floats(local, self.world_size, self.device) if gather else [local]
        value, meta = self.windows.to_event()
        self.emit("windows", value, peak_memory_gib=[p if math.isfinite(p) else None for p in peaks], **meta)

    # -- evaluation ---------------------------------------------------------------------------------------------------
    def evaluate(self) -> bool:
        """Run the case metric; returns True when the target is reached."""
        start_ms = time.time() * 1000
        start = self.sync_point()
        result = self.engine.evaluate()
        end = self.watch.now()
        end_ms = time.time() * 1000
        self.windows.eval_s += end - start
        self.windows.eval_intervals_ms.append([start_ms, end_ms])
        self._pause_rate(end - start)
        self.metric = float(result.metric)
        self.last_eval_step = self.step
        extras = {k: float(v) for k, v in result.extras.items()}
        self.emit("eval", self.metric, eval_s=round(end - start, 6), start_ms=start_ms, end_ms=end_ms, extras=extras,
                  eval_samples=result.samples, eval_batches=result.batches)
        self.observers.call("benchbase_eval", step=self.step, samples=self.samples, metric=self.metric, extras=extras)
        reached = reaches(self.metric, self.core.target, self.engine.case.metric.higher_is_better)
        if reached and self.converged_step is None:
            self.converged_step, self.converged_samples = self.step, self.samples
            self.time_to_target_s = self.windows.whole_s + (end - (self.whole_start or end))
        return reached

    # -- checkpoint ---------------------------------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        """Save the workload, the loop's state and every rank's RNG (:class:`benchbase.train.checkpoint.Checkpoints`);
        the time it takes is the checkpoint window."""
        start = self.sync_point()
        start_ms = time.time() * 1000
        path = self.checkpoints.save(self.step, lambda: self._checkpoint_state(start, start_ms), self.engine.shards)
        seconds = self.watch.now() - start
        self.windows.checkpoint_s += seconds
        self._pause_rate(seconds)
        self.emit("checkpoint", str(path))

    def _checkpoint_state(self, start: float, start_ms: float) -> dict[str, Any]:
        # The attempt's windows are added only when it ends; the copy a resume continues from must already hold
        # them up to this checkpoint, where the resumed attempt takes over (what this one trains after it is redone).
        windows = vars(self.attempt.snapshot(start, start_ms, self.samples)) if self.attempt else vars(self.windows)
        return {
            "workload": self.engine.state_dict(),
            "loop": {
                "step": self.step,
                "samples": self.samples,
                "last_eval_step": self.last_eval_step,
                "metric": self.metric,
                "world_size": self.world_size,
                "windows": windows,
            },
        }

    def resume(self) -> None:
        """Continue from the run's checkpoint: the engine's state, this rank's RNG and the loop's counters."""
        loop = self.checkpoints.restore(self.engine.load_state_dict, self.engine.shards)
        self.step, self.samples = loop["step"], loop["samples"]
        self.last_eval_step, self.metric = loop["last_eval_step"], loop["metric"]
        self.windows = Windows.from_state(loop["windows"])
        self.windows.warmup_steps = self.core.warmup_steps
        self.emit("resume", str(self.checkpoints.state_path))
