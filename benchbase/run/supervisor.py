"""One run on one node, from the supervisor's side: prepare, record, launch, watch, and decide the status.

The supervisor is ``benchbase run`` itself. It owns the run directory and the status, so a rank that crashes, hangs
or is killed can never leave a record claiming more than happened: whatever the ranks did or did not write, the
supervisor writes ``summary.json`` last, from the event log, the telemetry and the launcher's exit code.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
from rich.markup import escape

from benchbase.registry import bounded
from benchbase.record import disk_space
from benchbase.launch import lifeline
from benchbase.hardware import topology
from benchbase.registry.bounded import RunStopped
from benchbase.config.resolve import ResolvedConfig
from benchbase.contract import Binding, Case, Vendor
from benchbase.errors import BenchbaseError
from benchbase.record.events import EventLog, read_events
from benchbase.hardware.host import host_facts
from benchbase.launch.plan import LaunchPlan, plan_launch
from benchbase.run.launcher_wait import LauncherWait
from benchbase.run.live import EventTail, RunView
from benchbase.record.rundir import RunDir
from benchbase.record.schema import CHECKPOINT_FILE, NODE_FILE, STATUS_EXIT_CODES
from benchbase.run.lock import RunLock
from benchbase.record.summary import base_summary, build_summary
from benchbase.run.telemetry import Sampler

#: Seconds ranks get to write their last events after SIGINT/SIGTERM before they are killed.
GRACE_S = 20.0
#: Longest sleep of the watch loop: the live view and the list of the run's processes are brought up to date this
#: often. The launcher's exit, a signal and every deadline wake it at once (see :mod:`benchbase.run.launcher_wait`).
WATCH_S = 1.0


@dataclass
class RunRequest:
    """Everything ``benchbase run`` decided before starting processes."""

    case: Case
    vendor: Vendor
    resolved: ResolvedConfig
    nnodes: int
    nproc_per_node: int
    out_root: Path
    cache_dir: Path
    data_dir: Path | None = None
    node_rank: int = 0
    master_addr: str | None = None
    master_port: int | None = None
    sysfs_root: Path = Path("/sys")
    repeat_group: str | None = None
    repeat_index: int = 0
    resume_dir: Path | None = None
    #: ``--timeout`` as given to this command: on ``--resume`` it bounds the new attempt (the record's own
    #: ``timeout_s`` otherwise); ``None`` when not given.
    timeout_s: float | None = None
    extra_record: dict[str, Any] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.resolved.values)


@dataclass
class RunOutcome:
    run_dir: Path
    status: str
    exit_code: int
    summary: dict[str, Any]


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def bindings_for(vendor: Vendor, nproc: int, device_indices: list[int], sysfs_root: Path) -> list[Binding | None]:
    """Per local rank, the CPUs local to its device, from the vendor's reading of real topology."""
    return [
        bounded.call(vendor, "binding()", vendor.binding, rank, device_indices[rank], sysfs_root,
                     local_world_size=nproc)
        for rank in range(nproc)
    ]


def fitted_bindings(planned: list[Binding | None], sysfs_root: Path) -> tuple[list[Binding | None], str | None]:
    """The bindings the ranks can apply here: narrowed to the CPUs this process may use, which the ranks inherit
    (a Slurm task's, a container's), with one line when that changed them."""
    return topology.fit_to_allowed(sysfs_root, planned, os.sched_getaffinity(0))


def local_device_indices(vendor: Vendor, nproc: int) -> list[int]:
    """Discover devices (fail fast with the vendor's one-line reason) and map local ranks onto them."""
    devices = bounded.call(vendor, "discover()", vendor.discover)
    if not devices:
        raise BenchbaseError(f"vendor '{vendor.name}' found no devices", "check the driver, or pick another --vendor")
    if vendor.ranks_share_devices:
        return [devices[0].index] * nproc
    if len(devices) < nproc:
        raise BenchbaseError(
            f"--config asks for {nproc} processes per node but vendor '{vendor.name}' found {len(devices)} device(s)",
            f"use --config Nx{len(devices)} or run on a node with more devices",
        )
    return [d.index for d in devices[:nproc]]


def plan_for(
    request: RunRequest, run_dir: Path | None, bindings: list[Binding | None], binding_note: str | None
) -> LaunchPlan:
    # A rank reads everything else from the record: its config, and what preparation found (env.json "prepare").
    worker_args = ["--run-dir", str(run_dir or "<run-dir>")]
    if request.resume_dir is not None:
        worker_args += ["--resume"]
    return plan_launch(
        request.nnodes,
        request.nproc_per_node,
        worker_args,
        node_rank=request.node_rank,
        master_addr=request.master_addr,
        master_port=request.master_port,
        bindings=bindings,
        binding_note=binding_note,
    )


class _Signals:
    """SIGINT, SIGTERM and the run's deadline (SIGALRM), from the first plugin call to the end of the run.

    Until the launcher starts, a signal raises :class:`benchbase.registry.bounded.RunStopped` in the main thread, and so does
    the deadline: discovery and preparation (CPM's tokenizer pool included) unwind through every ``with`` and
    ``finally``, their helper processes are shut down and the lock is released, instead of the process dying and
    leaving them running. Once the launcher runs (:meth:`to_flags`), a signal is a flag the watch loop acts on
    (forward it to the ranks, then record ``interrupted``), and the watch loop keeps the deadline itself.
    """

    def __init__(self, deadline: float | None) -> None:
        self.received: int | None = None
        self._doing = "starting"
        self._timeout_fix = "raise --timeout"
        self._deadline = deadline
        self._raising = True
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
            self._previous[sig] = signal.signal(sig, self._handle)
        if self._deadline is not None and math.isfinite(self._deadline):
            signal.setitimer(signal.ITIMER_REAL, max(self._deadline - time.perf_counter(), 0.001))
        return self

    def phase(self, doing: str, timeout_fix: str = "raise --timeout") -> None:
        """What the supervisor does now, and what to do if the deadline passes meanwhile: for the one line of a
        stop before the ranks start."""
        self._doing, self._timeout_fix = doing, timeout_fix

    def _handle(self, signum: int, _frame: Any) -> None:
        if signum == signal.SIGALRM:
            if self._raising:
                raise bounded.timeout_stop(self._doing, self._timeout_fix)
            return
        self.received = signum
        if self._raising:
            raise RunStopped(
                f"stopped by {signal.Signals(signum).name} while {self._doing}; nothing was recorded",
                128 + signum,
                "interrupted",
            )

    def to_flags(self) -> None:
        """From now on a signal only sets :attr:`received`; the deadline is the watch loop's to keep."""
        self._raising = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        bounded.set_deadline(None)

    def __exit__(self, *exc: Any) -> None:
        self.to_flags()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)




def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class _RunProcesses:
    """Every process below the launcher, remembered while it lives, so that none outlives the run.

    torchrun starts each rank in a session of its own: a signal to the launcher's process group reaches torchrun only,
    and a torchrun killed at the end of the grace period leaves its ranks behind (it would give up on them only 30 s
    after asking them to stop). Processes are held as :class:`psutil.Process`, which checks a pid still names the same
    process before signalling it, so a reused pid is never hit.

    While looking, it also notes the rendezvous the ranks were given (:attr:`rendezvous`): ``torchrun --standalone``
    picks its own port, so only a rank's environment says which one the run used.
    """

    REFRESH_S = 1.0

    def __init__(self, launcher: subprocess.Popen[bytes]) -> None:
        self._launcher = launcher
        self._seen: dict[int, psutil.Process] = {}
        self._refreshed = float("-inf")
        #: ``MASTER_ADDR``/``MASTER_PORT`` as this node's local rank 0 saw them; ``None`` until a rank is seen.
        self.rendezvous: dict[str, Any] | None = None

    def remember(self, now: float) -> None:
        if now - self._refreshed < self.REFRESH_S:
            return
        self._refreshed = now
        try:
            for child in psutil.Process(self._launcher.pid).children(recursive=True):
                self._seen.setdefault(child.pid, child)
                if self.rendezvous is None:
                    self.rendezvous = _rendezvous_seen_by(child)
        except psutil.Error:
            return

    def kill(self) -> None:
        """SIGKILL every remembered process still running (after a normal end there is none) and wait for them."""
        killed = []
        for process in self._seen.values():
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    process.kill()
                    killed.append(process)
            except psutil.Error:
                continue
        psutil.wait_procs(killed, timeout=5)


def _rendezvous_seen_by(process: psutil.Process) -> dict[str, Any] | None:
    """The master address and port in a local rank 0's environment (what ``init_process_group`` connects to), or
    ``None`` for any other process, or one still between fork and exec (its environment is still its parent's)."""
    try:
        environ = process.environ()
    except psutil.Error:
        return None
    if environ.get("LOCAL_RANK") != "0" or not environ.get("MASTER_PORT", "").isdigit():
        return None
    return {
        "master_addr": environ.get("MASTER_ADDR"),
        "master_port": int(environ["MASTER_PORT"]),
        "seen_in": f"environment of rank {environ.get('RANK')} (local rank 0, pid {process.pid})",
    }


def _told_error(log: Path) -> str | None:
    """The ``error: <problem>; <fix>`` line a rank stopped by a user's mistake writes (see
    :func:`benchbase.train.worker.main`), without its prefix; ``None`` when the log holds none."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return None
    told = next((ln for ln in reversed(lines[-40:]) if ln.startswith("error: ")), None)
    return told[len("error: "):][:1000] if told is not None else None


def _last_error_line(run_dir: RunDir, names: list[str] | None = None) -> str | None:
    """The cause of a failure in one line, from the first log (of ``names``, default every log) that names one.

    A line the rank wrote itself (:func:`_told_error`) is quoted whole. Otherwise the last line naming a Python
    error, which ends a traceback.
    """
    logs = [Path(run_dir.logs_dir) / n for n in names] if names else sorted(Path(run_dir.logs_dir).glob("*.log"))
    for log in logs:
        told = _told_error(log)
        if told is not None:
            return f"{log.name}: {told}"
        try:
            lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            continue
        for line in reversed(lines[-40:]):
            if "Error" in line or "Exception" in line:
                return f"{log.name}: {line[:300]}"
    return None


#: One entry of torchrun's failure report: ``rank : 1 (local_rank: 1)`` then ``exitcode : -9 (pid: 23692)  (SIGKILL)``.
_FAILURE_ENTRY = re.compile(
    r"^\s*rank\s*:\s*(\d+)[^\n]*\n\s*exitcode\s*:\s*(-?\d+)[^\n]*?(?:\((SIG[A-Z0-9]+)\))?[ \t]*$", re.M
)
#: Signals torchrun itself sends to the surviving ranks once one has failed.
_LAUNCHER_SIGNALS = ("SIGTERM", "SIGINT")


def _root_cause(run_dir: RunDir) -> str | None:
    """Which rank failed and how, from torchrun's last failure report in ``launcher.log``, with that rank's own error
    line when it wrote one.

    A rank that exited saying its own error (a binding it may not use, a bad checkpoint) is the cause: the ranks
    still waiting for it are then stopped by torchrun, with SIGTERM and, 30 s later, SIGKILL. Otherwise torchrun
    names as root cause the failure with the smallest timestamp, but its timestamps are whole seconds and a tie goes
    to the lowest rank; so a rank killed by a signal torchrun does not send first (SIGKILL from the OOM killer,
    SIGSEGV, ...) is the cause whatever torchrun says, and otherwise its root cause (the report's last entry) is
    taken.
    """
    try:
        text = (Path(run_dir.logs_dir) / "launcher.log").read_text(errors="replace")
    except OSError:
        return None
    start = text.rfind("Failures:")
    entries = _FAILURE_ENTRY.findall(text[start:]) if start >= 0 else []
    if not entries:
        return None
    told = [e for e in entries if not e[2] and _told_error(Path(run_dir.logs_dir) / f"rank{e[0]}.log")]
    outside = [e for e in entries if e[2] and e[2] not in _LAUNCHER_SIGNALS]
    rank, code, signame = (told or outside or entries[-1:])[0]
    how = f"was killed by {signame}" if signame else f"exited with code {code}"
    error = _last_error_line(run_dir, [f"rank{rank}.log"])
    return f"rank {rank} {how}" + (f" ({error})" if error else "")


def _decide_status(
    return_code: int | None,
    timed_out: bool,
    signalled: int | None,
    events: list[dict[str, Any]],
    run_dir: RunDir,
    write_failure: str | None = None,
) -> tuple[str, str]:
    """The status is the supervisor's own knowledge first (its timeout, a signal it received and forwarded, a record
    file it could not write and stopped the ranks for), then the launcher's exit code, then what rank 0 recorded. A
    rank's ``interrupted`` stop alone proves nothing: torchrun also sends SIGTERM to the surviving ranks when one rank
    dies, and that run failed."""
    stop = next((e for e in reversed(events) if e.get("key") == "train_stop"), None)
    reason = stop.get("value") if stop else None
    if timed_out:
        return "timeout", "the run exceeded its --timeout and was stopped"
    if signalled is not None:
        return "interrupted", f"stopped by {signal.Signals(signalled).name}"
    if write_failure is not None:
        return "failed", write_failure
    if return_code == STATUS_EXIT_CODES["interrupted"]:
        return "interrupted", "the worker was stopped by a signal sent to it directly"
    if return_code == 0 and reason == "converged":
        target_eval = next((e for e in reversed(events) if e.get("key") == "eval"), {})
        return "converged", f"target reached at step {target_eval.get('step')}"
    if return_code == 0 and reason in ("max_steps", "max_samples"):
        return "not_converged", f"budget spent ({reason}) before the target was reached"
    if return_code is not None and return_code < 0:
        code = f"killed by {_signal_name(-return_code)}"
    else:
        code = f"exit code {return_code}"
    cause = _root_cause(run_dir) or _last_error_line(run_dir)
    return "failed", f"a process failed ({code})" + (f": {cause}" if cause else "")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _launcher_log(run_dir: RunDir) -> Any:
    Path(run_dir.logs_dir).mkdir(parents=True, exist_ok=True)
    return open(Path(run_dir.logs_dir) / "launcher.log", "ab")


def _base_summary(request: RunRequest, run_dir: RunDir, env: dict[str, Any], started_at: str) -> dict[str, Any]:
    core = request.resolved.core
    return base_summary(
        run_id=Path(run_dir.path).name,
        case=request.case.name,
        preset=request.resolved.preset,
        vendor=request.vendor.name,
        official=request.resolved.official,
        started_at=started_at,
        nnodes=request.nnodes,
        nproc_per_node=request.nproc_per_node,
        world_size=request.nnodes * request.nproc_per_node,
        node_rank=request.node_rank,
        main_run_id=None,
        repeat_group=request.repeat_group,
        repeat_index=request.repeat_index,
        seed=core.seed,
        device_model=env.get("device_model"),
        sdk=env.get("vendor", {}).get("sdk"),
        precision=env.get("precision", {}).get("label"),
        per_device_batch=core.batch_size,
        grad_accum=core.grad_accum,
        metric_name=request.case.metric_name,
        target=core.target,
        peak_flops_per_device=env.get("peak_flops_per_device"),
        config_hash=request.resolved.config_hash,
    )


def environment_record(request: RunRequest, plan: LaunchPlan, device_indices: list[int]) -> dict[str, Any]:
    """``env.json``: host, vendor facts, devices, precision, peak FLOP/s, binding and the launch plan, and which
    distribution (and version) supplied the case and the vendor, so a record names the code that produced it."""
    from benchbase.registry.plugins import provenance

    vendor = request.vendor
    requested = request.resolved.core.precision
    precision = bounded.call(vendor, "precision_policy()", vendor.precision_policy, requested)
    devices = bounded.call(vendor, "discover()", vendor.discover)
    return {
        "host": host_facts(),
        "vendor": {"name": vendor.name, **bounded.call(vendor, "environment()", vendor.environment)},
        "plugins": {"case": provenance("case", request.case), "vendor": provenance("vendor", vendor)},
        "device_model": devices[0].model if devices else vendor.default_device_model,
        "devices": [
            {"index": d.index, "model": d.model, "memory_total_gib": d.memory_total_gib, "pci_bus_id": d.pci_bus_id,
             **dict(d.extra)}
            for d in devices
        ],
        "local_devices": device_indices,
        "precision": precision.describe(),
        "peak_flops_per_device": bounded.call(vendor, "peak_flops()", vendor.peak_flops, precision.flops_dtype),
        "launch": plan.describe(),
    }


def _check_resumable(run_dir: RunDir, world_size: int) -> dict[str, Any]:
    """Everything a resume needs, checked before the record is touched: a failed check leaves it as it was.

    The checkpoint is read memory-mapped (and with ``weights_only``), so vetting a large one costs little.
    """
    previous = run_dir.read_summary()
    if previous["status"] in ("converged", "not_converged"):
        raise BenchbaseError(
            f"{run_dir.path} already finished ({previous['status']}); only a stopped run can be resumed",
            "start a new run instead",
        )
    # The checkpoint module needs torch; imported here so commands that never resume start without it.
    from benchbase.train.checkpoint import read_checkpoint

    checkpoint = Path(run_dir.checkpoint_dir) / CHECKPOINT_FILE
    if not checkpoint.exists():
        raise BenchbaseError(
            f"{run_dir.path} has no checkpoint to resume from",
            "resume a run that was started with --set checkpoint_every=N and saved at least once",
        )
    loop = read_checkpoint(checkpoint, mmap=True)["loop"]
    saved_world = loop.get("world_size") if isinstance(loop, dict) else None
    if not isinstance(saved_world, int):
        raise BenchbaseError(f"{checkpoint} holds no loop state", "start the run again")
    if saved_world != world_size:
        raise BenchbaseError(
            f"{run_dir.path} was checkpointed by {saved_world} ranks but --config asks for {world_size}",
            f"resume with the --config the run started with ({run_dir.read_config().get('topology', '?')})",
        )
    return previous


def execute(
    request: RunRequest,
    console: Any,
    prepare: Callable[[], dict[str, Any]],
) -> RunOutcome:
    """Run one repeat on this node and return its recorded outcome.

    The run's ``--timeout`` counts from here and is kept from here: discovery and preparation are inside it. Nothing
    is written before preparation has succeeded: a stop or a refusal until then leaves no record (and a resumed
    record as it was). From the moment the record exists, every way the attempt can end, an exception included,
    ends in a summary that says how (:class:`_Attempt`).
    """
    process_start = time.perf_counter()
    deadline = bounded.set_deadline(_timeout_s(request), process_start)
    with _Signals(deadline) as signals, contextlib.ExitStack() as held:
        signals.phase(f"calling {request.vendor.name}'s discover()")
        device_indices = local_device_indices(request.vendor, request.nproc_per_node)
        bindings = fitted_bindings(
            bindings_for(request.vendor, request.nproc_per_node, device_indices, request.sysfs_root), request.sysfs_root
        )
        plan_for(request, None, *bindings)  # a bad --node-rank or a missing master is refused before anything exists
        if request.resume_dir is not None:
            run_dir = RunDir.open(request.resume_dir)
            world_size = request.nnodes * request.nproc_per_node
            # Checked once before the lock, so a refused resume does not even leave a lock file behind, and again
            # under it: another resume may have finished the run meanwhile.
            _check_resumable(run_dir, world_size)
            disk_space.check_room(run_dir.path, "the run to resume", "move it to a disk with room")
            lock = held.enter_context(RunLock.acquire(run_dir.path, "resume"))
            died = lock.settle_orphan()
            if died:
                console.print(f"the last attempt of {run_dir.run_id} was recorded as failed: {escape(died)}",
                              soft_wrap=True, highlight=False)
            previous = _check_resumable(run_dir, world_size)
            started_at = previous.get("started_at") or _utc_now()
            previous_e2e = float((previous.get("windows") or {}).get("e2e_s") or 0.0)
        else:
            disk_space.check_room(request.out_root, "--out", "choose another --out")
        signals.phase(
            f"preparing the data of case {request.case.name}",
            "raise --timeout, or prepare the data first with `benchbase prepare` so the run only reads it",
        )
        prepared = _prepare(prepare, request.cache_dir)
        if request.resume_dir is None:
            run_dir = RunDir.create_unique(
                request.out_root, request.case.name, request.vendor.name, request.nnodes, request.nproc_per_node
            )
            held.enter_context(RunLock.acquire(run_dir.path, "run"))
            started_at = _utc_now()
            previous_e2e = 0.0
        reserve = _reserve(run_dir, fresh=request.resume_dir is None)
        held.callback(reserve.release)
        signals.phase("starting the ranks")
        attempt = _Attempt(request, console, run_dir, signals, reserve, process_start, started_at, previous_e2e)
        try:
            return _record_and_watch(attempt, device_indices, bindings, prepared)
        except (RunStopped, BenchbaseError, OSError) as exc:
            return attempt.end_early(exc)
        except BaseException as exc:
            attempt.end_early(exc)  # an error of benchbase itself: record it, then show its traceback
            raise


def _timeout_s(request: RunRequest) -> float:
    """The attempt's time limit: ``--timeout`` as given to this command, else the config's ``timeout_s``."""
    if request.timeout_s is not None:
        return float(request.timeout_s)
    return request.resolved.core.timeout_s


def _prepare(prepare: Callable[[], dict[str, Any]], cache_dir: Path) -> dict[str, Any]:
    """The case's preparation, a disk that refuses its cache named in one line (the cache writes atomically, so
    what it held before is intact)."""
    try:
        return prepare()
    except OSError as exc:
        # A write that the disk cut short names no file; the cache folder is then the place to look.
        raise disk_space.unwritable(
            exc, exc.filename or cache_dir, "free space there, or point --cache-dir at another disk"
        ) from None


def _reserve(run_dir: RunDir, fresh: bool) -> disk_space.Reserve:
    """The run folder's reserve (see :mod:`benchbase.record.disk_space`). A disk that cannot hold it cannot hold the run:
    a folder made for this run is removed again, so a refusal leaves no half record."""
    try:
        return disk_space.Reserve.create(run_dir.path)
    except disk_space.RecordUnwritable:
        if fresh:
            shutil.rmtree(run_dir.path, ignore_errors=True)
        raise


@dataclass
class _Attempt:
    """One attempt at a run from the moment its record exists: what it takes to end it honestly, however it ends.

    The watch loop fills in what it started (the event log, the sampler, the launcher's processes); :meth:`finish`
    stops whatever of that runs, gives back the disk reserve and then writes ``run_stop`` and the final summary.
    """

    request: RunRequest
    console: Any
    run_dir: RunDir
    signals: _Signals
    reserve: disk_space.Reserve
    process_start: float
    started_at: str
    previous_e2e: float
    base: dict[str, Any] | None = None
    events: EventLog | None = None
    sampler: Sampler | None = None
    launcher: subprocess.Popen[bytes] | None = None
    processes: _RunProcesses | None = None
    #: This process's CPU seconds (all its threads) when the ranks were launched: the harness's cost is counted
    #: from there to the end (``summary.harness``).
    cpu_at_launch: float | None = None

    def end_early(self, exc: BaseException) -> RunOutcome:
        """The attempt stopped before its ranks ran to an end: by a signal, its deadline, a plugin or the disk."""
        if isinstance(exc, RunStopped):
            if exc.status == "timeout":
                return self.finish("timeout", "the run exceeded its --timeout before its ranks started")
            return self.finish(exc.status, f"stopped by {_signal_name(exc.exit_code - 128)} before the ranks started")
        if isinstance(exc, BenchbaseError):
            return self.finish("failed", str(exc))
        if isinstance(exc, OSError):
            return self.finish("failed", disk_space.describe(exc))
        return self.finish("failed", f"benchbase failed: {type(exc).__name__}: {exc}")

    def finish(
        self, status: str, reason: str, base: dict[str, Any] | None = None, extras: dict[str, Any] | None = None
    ) -> RunOutcome:
        """Stop what still runs, then record the end. A record that cannot be written even now (the disk was filled
        again, or turned read-only) is reported on the console in one line; the outcome is returned either way."""
        self.signals.to_flags()
        if self.sampler is not None:
            self.sampler.stop()
        if self.launcher is not None and self.launcher.poll() is None:  # the watch loop itself failed
            _signal_group(self.launcher, signal.SIGKILL)  # its ranks follow it, through their lifeline
            self.launcher.wait()
        if self.processes is not None:
            self.processes.kill()
        if status == "failed" and "no space left" not in reason and disk_space.is_full(self.run_dir.path):
            reason = f"no space left on device writing {self.run_dir.path} ({reason})"
        self.reserve.release()
        exit_code = STATUS_EXIT_CODES[status]
        e2e_s = self.previous_e2e + (time.perf_counter() - self.process_start)
        fields = {**(base or self.base or _base_summary(self.request, self.run_dir, {}, self.started_at)),
                  "status": status, "exit_code": exit_code, "reason": reason, "ended_at": _utc_now(), "e2e_s": e2e_s}
        if self.cpu_at_launch is not None:
            fields["supervisor_cpu_s"] = time.process_time() - self.cpu_at_launch
        summary: dict[str, Any] = fields
        try:
            if self.events is not None:
                self.events.close()
            # Opened afresh, which first ends a line a rank left torn (a write the full disk cut short).
            with EventLog(Path(self.run_dir.events_path), rank=None) as events:
                events.emit("run_stop", status, exit_code=exit_code, reason=reason)
            summary = build_summary(self.run_dir, fields, extras=extras)
            self.run_dir.write_summary(summary)
        except (BenchbaseError, OSError) as exc:
            problem = str(exc) if isinstance(exc, BenchbaseError) else disk_space.describe(exc)
            self.console.print(f"[red]error:[/] the record could not be finished: {escape(problem)}", soft_wrap=True)
        return RunOutcome(Path(self.run_dir.path), status, exit_code, summary)


def _record_and_watch(
    attempt: _Attempt,
    device_indices: list[int],
    bindings: tuple[list[Binding | None], str | None],
    prepared: dict[str, Any],
) -> RunOutcome:
    """Write the record's start, launch the ranks, watch them, and decide and record how the run ended.
    ``bindings`` are :func:`fitted_bindings`, checked before the record existed."""
    request, console, run_dir, signals = attempt.request, attempt.console, attempt.run_dir, attempt.signals
    plan = plan_for(request, Path(run_dir.path), *bindings)
    binding_note = bindings[1]
    env = environment_record(request, plan, device_indices)
    env["prepare"] = prepared
    env.update(request.extra_record)
    attempt.base = base = _base_summary(request, run_dir, env, attempt.started_at)
    if request.resume_dir is None:
        run_dir.write_config(
            request.resolved.to_record(),
            extra={"run_id": base["run_id"], "case": request.case.name, "vendor": request.vendor.name,
                   "topology": f"{request.nnodes}x{request.nproc_per_node}"},
        )
        run_dir.write_env(env)
    run_dir.write_summary(build_summary(run_dir, {**base, "status": "running"}))
    attempt.events = events = EventLog(Path(run_dir.events_path), rank=None)
    timeout_s = _timeout_s(request)
    events.emit("launch", plan.kind, commands=[plan.describe()["command"]], node_rank=request.node_rank,
                timeout_s=timeout_s or None)
    core = request.resolved.core
    devices = sorted(set(device_indices))
    attempt.sampler = sampler = Sampler(
        Path(run_dir.telemetry_path),
        request.node_rank,
        bounded.call(request.vendor, "open_sensors()", request.vendor.open_sensors, devices),
        core.telemetry_interval_s,
        devices,
        root_pid=os.getpid(),
        owner=request.vendor,
    )
    process_start = attempt.process_start
    timed_out = False
    write_failure: str | None = None
    return_code: int | None = None
    if binding_note:
        console.print(f"[yellow]{binding_note}[/]", soft_wrap=True, highlight=False)
    with _launcher_log(run_dir) as launcher_log:
        sampler.begin()
        signals.to_flags()
        attempt.cpu_at_launch = time.process_time()
        attempt.launcher = proc = subprocess.Popen(
            lifeline.launcher_command(plan.command, os.getpid()),
            env={**os.environ, **plan.environment(), lifeline.SUPERVISOR_ENV: str(os.getpid())},
            stdout=launcher_log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        attempt.processes = processes = _RunProcesses(proc)
        tail = EventTail(Path(run_dir.events_path))
        title = f"{request.case.name} on {request.vendor.name} {request.nnodes}x{request.nproc_per_node}"
        with RunView(console, title, core.max_steps, core.target) as view, \
                LauncherWait(proc) as launcher_wait:
            stop_deadline: float | None = None
            while True:
                return_code = proc.poll()
                view.consume(tail.read_new())
                if return_code is not None:
                    break
                now = time.perf_counter()
                processes.remember(now)
                if signals.received is not None and stop_deadline is None:
                    _signal_group(proc, signal.SIGINT)
                    stop_deadline = now + GRACE_S
                if timeout_s and not timed_out and now - process_start > timeout_s:
                    timed_out = True
                    _signal_group(proc, signal.SIGTERM)
                    stop_deadline = now + GRACE_S
                if write_failure is None and (sampler.write_failure or disk_space.is_full(run_dir.path)):
                    # The record cannot take more: training on would measure what can never be recorded. (Appends
                    # fill the free end of a file's last block first, so a full disk is seen before a write fails.)
                    write_failure = sampler.write_failure or disk_space.full_disk_reason(run_dir.path)
                    _signal_group(proc, signal.SIGTERM)
                    stop_deadline = now + GRACE_S
                if stop_deadline is not None and now > stop_deadline:
                    _signal_group(proc, signal.SIGKILL)
                    processes.kill()
                    stop_deadline = now + 3600
                deadlines = [WATCH_S]
                if stop_deadline is not None:
                    deadlines.append(stop_deadline - now)
                if timeout_s and not timed_out:
                    deadlines.append(process_start + timeout_s - now)
                launcher_wait.wait(min(deadlines))
            processes.kill()
            view.consume(tail.read_new())
        sampler.stop()
    recorded = read_events(Path(run_dir.events_path))
    status, reason = _decide_status(return_code, timed_out, signals.received, recorded, run_dir, write_failure)
    node_file = Path(run_dir.path) / NODE_FILE
    if node_file.exists():
        base["main_run_id"] = json.loads(node_file.read_text()).get("main_run_id")
    return attempt.finish(
        status, reason, base, extras={"telemetry_errors": sampler.errors, "rendezvous": processes.rendezvous}
    )


def dry_run_plan(request: RunRequest) -> dict[str, Any]:
    """What ``--dry-run`` prints: the resolved config, bindings, precision and the launch command, starting nothing."""
    nproc = request.nproc_per_node
    try:
        device_indices = local_device_indices(request.vendor, nproc)
        detected = True
    except BenchbaseError:
        device_indices = list(range(nproc))
        detected = False
    # The plan as the topology has it (another machine's, where devices are not detected here or --sysfs-root names
    # a recorded tree), with the line a launch on this machine would print.
    bindings = bindings_for(request.vendor, nproc, device_indices, request.sysfs_root)
    _, binding_note = fitted_bindings(bindings, request.sysfs_root)
    plan = plan_for(request, None, bindings, binding_note)
    vendor = request.vendor
    precision = bounded.call(vendor, "precision_policy()", vendor.precision_policy,
                             request.resolved.core.precision)
    return {
        "devices_detected": detected,
        "precision": precision.describe(),
        "launch": plan.describe(),
    }

