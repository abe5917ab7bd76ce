"""The process of one rank: its log, signals, CPU binding and process group, and the parts it trains with.

Started by the supervisor (directly for 1x1, through torchrun otherwise) as ``python -m benchbase.train.worker``. Rank 0
writes the event log; every rank writes ``logs/rank<N>.log``. The parts are built here in a fixed order (seeds, then
the engine, then the loop) and :class:`benchbase.train.loop.TrainingLoop` trains them.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

import torch
import torch.distributed as dist

from benchbase.config.parameters import CoreConfig
from benchbase.contract import Binding, Vendor
from benchbase.errors import BenchbaseError
from benchbase.hardware.topology import apply_binding
from benchbase.launch import lifeline
from benchbase.launch.plan import BINDINGS_ENV
from benchbase.launch.threads import rank_threads
from benchbase.record.events import EventLog
from benchbase.record.atomic import atomic_write_json
from benchbase.record.rundir import RunDir
from benchbase.record.schema import NODE_FILE
from benchbase.registry.plugins import load_registry
from benchbase.train.engine import Engine
from benchbase.train import prepared_facts
from benchbase.train.loop import TrainingLoop
from benchbase.train.parallel import RankPlace, shutdown_process_group

#: Exit code of a worker stopped by SIGINT/SIGTERM (the shell convention for SIGINT).
EXIT_INTERRUPTED = 130


class Interrupted(BaseException):
    """Raised from the signal handler so the loop unwinds through ``finally`` and the record stays honest. A
    ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` on its way (an observer's guard,
    a plugin's own) swallows the stop."""


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


def size_threads(cpus: list[int] | None, vendor: Vendor, local_rank: int) -> tuple[torch.device, list[int]]:
    """Size torch's pool by the core's policy (:mod:`benchbase.launch.threads`), then let the vendor set up its
    device: a vendor may lower the count (a GPU rank wants few host threads), so ``[policy, used]`` is returned and
    both are recorded; ``used`` is what the rank ran with."""
    policy = rank_threads(cpus, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    torch.set_num_threads(policy)
    device = vendor.setup_device(local_rank)
    return device, [policy, torch.get_num_threads()]


def _all_threads(mine: list[int], world_size: int) -> dict[str, list[int]]:
    """Every rank's ``[policy, used]`` thread counts, by global rank, for rank 0's ``run_start``."""
    everyone = [mine]
    if world_size > 1:
        everyone = [mine] * world_size
        dist.all_gather_object(everyone, mine)
    return {"policy": [pair[0] for pair in everyone], "used": [pair[1] for pair in everyone]}


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
    # SIGHUP (the terminal or the ssh session went away) stops the run like SIGTERM: it ends interrupted, recorded.
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _on_signal)
    lifeline.guard_rank(EXIT_INTERRUPTED)
    record = run_dir.read_config()
    config: dict[str, Any] = dict(record["values"])
    registry = load_registry()
    case = registry.case(record["case"])
    vendor = registry.vendor(record["vendor"])
    events: EventLog | None = None
    loop: TrainingLoop | None = None
    completed = False
    exit_code: int | None = None
    try:
        # The first rank of every node writes its node's event log, so each node's record tells the whole story.
        events = EventLog(Path(run_dir.events_path), rank) if local_rank == 0 else None
        # Inside the try: a binding this process may not use is the rank's own error, quoted as the run's reason.
        cpus = _apply_binding(local_rank)
        device, threads = size_threads(cpus, vendor, local_rank)
        if world_size > 1:
            dist.init_process_group(backend=vendor.distributed_backend)
        all_threads = _all_threads(threads, world_size)
        main_run_id = _share_main_run_id(record["run_id"], world_size)
        if local_rank == 0 and main_run_id != record["run_id"]:
            atomic_write_json(Path(run_dir.path) / NODE_FILE, {"main_run_id": main_run_id})
        core = CoreConfig.from_values(config)
        precision = vendor.precision_policy(core.precision)
        torch.manual_seed(core.seed)
        random.seed(core.seed)

        def emit(key: str, value: Any = None, **metadata: Any) -> None:
            if loop is not None:
                loop.emit(key, value, **metadata)
            elif events is not None:
                events.emit(key, value, **metadata)

        engine = Engine(
            case, vendor, device, precision, config, core, prepared_facts.received(),
            RankPlace(rank, world_size), emit,
        )
        loop = TrainingLoop(engine, vendor, device, core, run_dir, events, registry, rank, world_size)
        if args.resume:
            loop.resume()
        vendor.reset_peak_memory(device)
        loop.windows.init_s += loop.watch.now() - process_start
        if events is not None:
            loop.emit(
                "run_start",
                record["run_id"],
                world_size=world_size,
                global_batch=engine.global_batch,
                flops_per_sample=engine.flops_per_sample,
                target=core.target,
                precision=precision.label,
                cpus=cpus,
                threads=all_threads,
            )
            loop.emit("init_stop", round(loop.windows.init_s, 6))
        loop.observers.call(
            "benchbase_run_start",
            run={"run_id": record["run_id"], "case": record["case"], "preset": record.get("preset"),
                 "vendor": record["vendor"], "world_size": world_size, "config": config},
        )
        reason = loop.run()
        loop.observers.call("benchbase_run_end", status=reason, summary={"windows": vars(loop.windows)})
        completed = True
        return 0
    except Interrupted as exc:
        if loop is not None and loop.whole_start is not None and not loop.finished:
            loop.close_windows(gather=False)
            loop.emit("train_stop", "interrupted", signal=str(exc))
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
        if loop is not None:
            loop.engine.close()
        # DistributedDataParallel keeps the process group alive in its reducer; destroying the group while a
        # wrapper still exists aborts the process at exit ("terminate called without an active exception").
        loop = None
        gc.collect()
        if world_size > 1 and dist.is_initialized():
            shutdown_process_group()


if __name__ == "__main__":
    sys.exit(main())
