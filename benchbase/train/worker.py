"""What one rank runs: build the case through the plugin contract, train it, own every timer and stop decision.

Started by the supervisor (directly for 1x1, through torchrun otherwise) as ``python -m benchbase.train.worker``. Rank 0
writes the event log; every rank writes ``logs/rank<N>.log``. The case supplies the step and the metric; the worker
decides when to evaluate, when the target is reached and when the budget is spent, so that every case is measured by
the same rules.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import random
import signal
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import torch
import torch.distributed as dist

from benchbase.launch import lifeline
from benchbase.contract import Binding, Vendor
from benchbase.train.engine import Engine, RankPlace
from benchbase.errors import BenchbaseError
from benchbase.record.events import EventLog
from benchbase.launch.plan import BINDINGS_ENV
from benchbase.registry.plugins import Registry, load_registry
from benchbase.record.atomic import atomic_write, atomic_write_json
from benchbase.record.rundir import RunDir
from benchbase.record.schema import CHECKPOINT_FILE, NODE_FILE
from benchbase.record.safe_load import Fixes, load_torch_file
from benchbase.train.timing import Stopwatch, Windows
from benchbase.hardware.topology import apply_binding

#: Exit code of a worker stopped by SIGINT/SIGTERM (the shell convention for SIGINT).
EXIT_INTERRUPTED = 130


class Interrupted(Exception):
    """Raised from the signal handler so the loop unwinds through ``finally`` and the record stays honest."""


def _on_signal(signum: int, _frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _redirect_output(log_path: Path) -> None:
    """Send this rank's stdout/stderr (tracebacks included) to its log file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _apply_binding(local_rank: int) -> list[int] | None:
    """Pin this rank to the CPUs the supervisor chose from the device's topology (see ``env.json``)."""
    raw = os.environ.get(BINDINGS_ENV)
    bindings = json.loads(raw) if raw else []
    cpus = bindings[local_rank] if local_rank < len(bindings) else None
    if not cpus:
        return None
    return list(apply_binding(Binding(local_rank, local_rank, tuple(cpus), None, "supervisor")))


def _rng_state(vendor: Vendor, device: torch.device) -> dict[str, Any]:
    """The host's generators and, through the vendor, the device's: whatever the device type, dropout continues
    exactly after a resume."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    device_state = vendor.rng_state(device)
    if device_state is not None:
        state["device"] = device_state
    return state


def _set_rng_state(vendor: Vendor, device: torch.device, state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "device" in state:
        vendor.set_rng_state(device, state["device"])


def _rng_file_name(rank: int, step: int) -> str:
    return f"rng-rank{rank}-step{step}.pt"


def read_checkpoint(
    path: Path, *, mmap: bool = False, layout: tuple[str, ...] = ("workload", "loop")
) -> dict[str, Any]:
    """A file of the run's ``checkpoint/`` folder, read with ``weights_only=True``: tensors and plain containers only.

    A checkpoint folder can be copied between machines, so a file that would need arbitrary pickled code is refused,
    never executed. ``mmap=True`` maps tensors instead of reading them, so the supervisor can vet a large checkpoint
    before it touches the run. ``layout`` names the keys the file must hold.
    """
    again = "this checkpoint cannot be resumed; start the run again (benchbase writes checkpoints itself)"
    state = load_torch_file(path, what="checkpoint file", allow_legacy=False, mmap=mmap, fixes=Fixes.same(again))
    if not isinstance(state, dict) or not all(key in state for key in layout):
        raise BenchbaseError(f"checkpoint file {path} does not hold {', '.join(layout)}", again)
    return state


class Trainer:
    """The training loop of one rank, with its windows, stop rules and events."""

    def __init__(
        self,
        engine: Engine,
        vendor: Vendor,
        device: torch.device,
        config: Mapping[str, Any],
        run_dir: RunDir,
        events: EventLog | None,
        registry: Registry,
        rank: int,
        world_size: int,
    ) -> None:
        self.engine = engine
        self.vendor = vendor
        self.device = device
        self.config = config
        self.run_dir = run_dir
        self.events = events
        self.hook = registry.hook if rank == 0 else None
        self.rank = rank
        self.world_size = world_size
        self.watch = Stopwatch(lambda: vendor.synchronize(device))
        self.step_timer = vendor.step_timer(device)
        self.windows = Windows()
        self.step = 0
        self.samples = 0
        self.last_eval_step: int | None = None
        self.converged_step: int | None = None
        self.converged_samples: int | None = None
        self.time_to_target_s: float | None = None
        self.metric: float | None = None
        self.whole_start: float | None = None
        self.finished = False

    # -- events -------------------------------------------------------------------------------------------------------
    def emit(self, key: str, value: Any = None, **metadata: Any) -> None:
        """Write an event and tell the observers; the CPU this costs is counted as the harness's own."""
        if self.events is None:
            return
        started = time.thread_time()
        event = self.events.emit(key, value, step=self.step, samples=self.samples, **metadata)
        if self.hook is not None:
            self.hook.benchbase_event(event=event)
        self.windows.events_cpu_s += time.thread_time() - started

    # -- checkpoint ---------------------------------------------------------------------------------------------------
    def _checkpoint_dir(self) -> Path:
        return Path(self.run_dir.checkpoint_dir)

    def save_checkpoint(self) -> None:
        """Rank 0 saves the workload and the loop state; every rank saves its own RNG (dropout differs per rank).

        RNG files are named by step and all written before ``state.pt`` is replaced, so whenever ``state.pt`` exists
        every rank's RNG of the same step exists too, even if the run is killed between any two writes.
        """
        start = self.sync_point()
        folder = self._checkpoint_dir()
        folder.mkdir(parents=True, exist_ok=True)
        rng_file = folder / _rng_file_name(self.rank, self.step)
        rng = _rng_state(self.vendor, self.device)
        atomic_write(rng_file, lambda handle: torch.save(rng, handle))
        if self.world_size > 1:
            dist.barrier()
        if self.rank == 0:
            windows = vars(self.windows).copy()
            # The segment's whole time is added to whole_s only when the run ends; the copy that a resume continues
            # from must already hold it, or the resumed run would report only the time after the resume.
            windows["whole_s"] += self.watch.now() - (self.whole_start or start)
            state = {
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
            atomic_write(folder / CHECKPOINT_FILE, lambda handle: torch.save(state, handle))
        if self.world_size > 1:
            dist.barrier()
        for old in folder.glob(f"rng-rank{self.rank}-step*.pt"):
            if old != rng_file:
                old.unlink(missing_ok=True)
        self.windows.checkpoint_s += self.watch.now() - start
        self.emit("checkpoint", str(folder / CHECKPOINT_FILE))

    def load_checkpoint(self, folder: Path) -> None:
        state = read_checkpoint(folder / CHECKPOINT_FILE)
        loop = state["loop"]
        if loop["world_size"] != self.world_size:
            raise BenchbaseError(
                f"checkpoint was written by {loop['world_size']} ranks but this run has {self.world_size}",
                f"resume with the topology the run started with (world size {loop['world_size']})",
            )
        self.engine.load_state_dict(state["workload"])
        self.step, self.samples = loop["step"], loop["samples"]
        self.last_eval_step, self.metric = loop["last_eval_step"], loop["metric"]
        self.windows = Windows.from_state(loop["windows"])
        rng = read_checkpoint(folder / _rng_file_name(self.rank, self.step), layout=("torch", "python"))
        _set_rng_state(self.vendor, self.device, rng)
        self.emit("resume", str(folder / CHECKPOINT_FILE))

    # -- timing -------------------------------------------------------------------------------------------------------
    def sync_point(self) -> float:
        """Synchronise the device and read the clock; fold in the core time and data waits since the last point.

        The loop synchronises only here (log points, evaluations, checkpoints, the ends of the train window), never
        per step, so a device's launch queue keeps running ahead of the host between log points.
        """
        now = self.watch.now()
        self.windows.core_s += self.step_timer.collect()
        self.windows.data_wait_s += self.engine.data_wait_s
        self.engine.data_wait_s = 0.0
        return now

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
        self.metric = float(result.metric)
        self.last_eval_step = self.step
        extras = {k: float(v) for k, v in result.extras.items()}
        self.emit("eval", self.metric, eval_s=round(end - start, 6), start_ms=start_ms, end_ms=end_ms, extras=extras)
        if self.hook is not None:
            self.hook.benchbase_eval(step=self.step, samples=self.samples, metric=self.metric, extras=extras)
        reached = self.metric >= self.engine.target
        if reached and self.converged_step is None:
            self.converged_step, self.converged_samples = self.step, self.samples
            self.time_to_target_s = self.windows.whole_s + (end - (self.whole_start or end))
        return reached

    # -- the loop -----------------------------------------------------------------------------------------------------
    def run(self) -> str:
        """Train until the target or the budget; returns the stop reason."""
        wl = self.engine
        log_interval = max(1, int(self.config.get("log_interval", 10)))
        checkpoint_every = int(self.config.get("checkpoint_every", 0))
        self.whole_start = self.watch.now()
        if self.windows.train_start_ms is None:
            self.windows.train_start_ms = time.time() * 1000
        if self.last_eval_step is None and self.evaluate():
            return self._finish("converged")
        reason = "max_steps"
        log_time, log_samples = self.sync_point(), self.samples
        while True:
            if self.step >= wl.max_steps:
                reason = "max_steps"
                break
            if wl.max_samples and self.samples >= wl.max_samples:
                reason = "max_samples"
                break
            batch = wl.next_batch()
            self.step_timer.start()
            loss = wl.train_step(batch)
            self.step_timer.stop()
            self.step += 1
            self.samples += wl.global_batch
            if self.step % log_interval == 0:
                now = self.sync_point()
                rate = (self.samples - log_samples) / max(now - log_time, 1e-9)
                loss_value = _global_mean(loss.detach().float(), self.world_size)
                lr = wl.learning_rate()
                self.emit("step", loss_value, samples_per_s=round(rate, 4), lr=lr)
                if self.hook is not None:
                    self.hook.benchbase_step(step=self.step, samples=self.samples, loss=loss_value, samples_per_s=rate)
                # Nothing is queued on the device after the log point's own sync, so the clock alone is exact here.
                log_time, log_samples = self.watch.clock(), self.samples
            if self.step % wl.eval_every == 0 and self.evaluate():
                reason = "converged"
                break
            if checkpoint_every and self.step % checkpoint_every == 0:
                self.save_checkpoint()
        if reason != "converged" and self.last_eval_step != self.step and self.evaluate():
            reason = "converged"
        return self._finish(reason)

    def _finish(self, reason: str) -> str:
        self.close_windows()
        self.emit(
            "train_stop",
            reason,
            converged_step=self.converged_step,
            converged_samples=self.converged_samples,
            time_to_target_s=self.time_to_target_s,
        )
        return reason

    def close_windows(self, gather: bool = True) -> None:
        """Add this segment's whole/train time (cumulative across a resume) and emit the ``windows`` event.

        ``gather=False`` on an interrupt: another rank may already be gone, and a collective would hang.
        """
        if self.finished or self.whole_start is None:
            return
        self.finished = True
        elapsed = self.sync_point() - self.whole_start
        self.windows.train_end_ms = time.time() * 1000
        self.windows.whole_s += elapsed
        self.windows.train_s = max(self.windows.whole_s - self.windows.eval_s - self.windows.checkpoint_s, 0.0)
        peak = self.vendor.peak_memory_gib(self.device)
        local = peak if peak is not None else float("nan")
        peaks = _gather_floats(local, self.world_size, self.device) if gather else [local]
        value, meta = self.windows.to_event()
        self.emit("windows", value, peak_memory_gib=[p if math.isfinite(p) else None for p in peaks], **meta)


def _global_mean(value: torch.Tensor, world_size: int) -> float:
    """The loss logged is the mean over ranks, so it does not depend on how the global batch is split."""
    if world_size > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= world_size
    return float(value.item())


def _gather_floats(value: float, world_size: int, device: torch.device) -> list[float]:
    if world_size == 1:
        return [value]
    local = torch.tensor([value], dtype=torch.float64, device=device)
    out = [torch.zeros_like(local) for _ in range(world_size)]
    dist.all_gather(out, local)
    return [float(t.item()) for t in out]


def _shutdown_process_group() -> None:
    """Leave the group together: a rank tearing gloo down while a peer still talks to it aborts the peer."""
    dist.barrier()
    dist.destroy_process_group()


def _leave_now(exit_code: int | None) -> NoReturn:
    """End a rank of a multi-rank run that did not complete, skipping every teardown.

    After a signal or an error a peer may be blocked in a collective this rank will never join, while this rank's own
    asynchronous gradient all-reduce waits for that peer: tearing the group down, or even freeing the DDP wrapper,
    would then wait forever (and torchrun gives up on its ranks only 30 s after asking them to stop). Exiting closes
    this rank's sockets, which ends the peer's wait with an error. ``None`` means an unexpected exception is on its
    way out; it is printed as the interpreter would have printed it.
    """
    if exit_code is None:
        traceback.print_exc()
        exit_code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


def _share_main_run_id(run_id: str, world_size: int) -> str:
    """Every node learns the run id of the node holding global rank 0, so the report can merge the parts."""
    if world_size == 1:
        return run_id
    box = [run_id]
    dist.broadcast_object_list(box, src=0)
    return str(box[0])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchbase.train.worker", description=__doc__)
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--resume", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    process_start = time.perf_counter()
    args = parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    run_dir = RunDir.open(args.run_dir)
    _redirect_output(Path(run_dir.log_path(rank)))
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    lifeline.guard_rank(EXIT_INTERRUPTED)
    record = run_dir.read_config()
    config: dict[str, Any] = dict(record["values"])
    registry = load_registry()
    case = registry.case(record["case"])
    vendor = registry.vendor(record["vendor"])
    events: EventLog | None = None
    trainer: Trainer | None = None
    completed = False
    exit_code: int | None = None
    try:
        # The first rank of every node writes its node's event log, so each node's record tells the whole story.
        events = EventLog(Path(run_dir.events_path), rank) if local_rank == 0 else None
        # Inside the try: a binding this process may not use is the rank's own error, quoted as the run's reason.
        cpus = _apply_binding(local_rank)
        device = vendor.setup_device(local_rank)
        if world_size > 1:
            dist.init_process_group(backend=vendor.distributed_backend)
        main_run_id = _share_main_run_id(record["run_id"], world_size)
        if local_rank == 0 and main_run_id != record["run_id"]:
            atomic_write_json(Path(run_dir.path) / NODE_FILE, {"main_run_id": main_run_id})
        precision = vendor.precision_policy(str(config.get("precision", "auto")))
        seed = int(config.get("seed", 0))
        torch.manual_seed(seed)
        random.seed(seed)

        def emit(key: str, value: Any = None, **metadata: Any) -> None:
            if trainer is not None:
                trainer.emit(key, value, **metadata)
            elif events is not None:
                events.emit(key, value, **metadata)

        engine = Engine(
            case, vendor, device, precision, config, run_dir.read_env().get("prepare", {}),
            RankPlace(rank, world_size), emit,
        )
        trainer = Trainer(engine, vendor, device, config, run_dir, events, registry, rank, world_size)
        if args.resume:
            trainer.load_checkpoint(Path(run_dir.checkpoint_dir))
        vendor.reset_peak_memory(device)
        trainer.windows.init_s += trainer.watch.now() - process_start
        if events is not None:
            trainer.emit(
                "run_start",
                record["run_id"],
                world_size=world_size,
                global_batch=engine.global_batch,
                flops_per_sample=engine.flops_per_sample,
                target=engine.target,
                precision=precision.label,
                cpus=cpus,
            )
            trainer.emit("init_stop", round(trainer.windows.init_s, 6))
        if rank == 0:
            registry.hook.benchbase_run_start(
                run={"run_id": record["run_id"], "case": record["case"], "preset": record.get("preset"),
                     "vendor": record["vendor"], "world_size": world_size, "config": config}
            )
        reason = trainer.run()
        if rank == 0:
            registry.hook.benchbase_run_end(status=reason, summary={"windows": vars(trainer.windows)})
        completed = True
        return 0
    except Interrupted as exc:
        if trainer is not None and trainer.whole_start is not None and not trainer.finished:
            trainer.close_windows(gather=False)
            trainer.emit("train_stop", "interrupted", signal=str(exc))
        exit_code = EXIT_INTERRUPTED
        return exit_code
    except BenchbaseError as exc:
        # A problem the user can fix (a checkpoint of the wrong shape, a damaged file): one line in the rank log,
        # which the supervisor quotes as the failure reason; a traceback would only bury it. On a full disk the log
        # may refuse the line too (the event log's RecordUnwritable): the exit code still says it.
        with contextlib.suppress(OSError):
            print(f"error: {exc}", file=sys.stderr, flush=True)
        exit_code = exc.exit_code
        return exit_code
    finally:
        if events is not None:
            events.close()
        if world_size > 1 and not completed and dist.is_initialized():
            _leave_now(exit_code)
        if trainer is not None:
            trainer.engine.close()
        # DistributedDataParallel keeps the process group alive in its reducer; destroying the group while a
        # wrapper still exists aborts the process at exit ("terminate called without an active exception").
        trainer = None
        gc.collect()
        if world_size > 1 and dist.is_initialized():
            _shutdown_process_group()


if __name__ == "__main__":
    sys.exit(main())
