"""One run on one node, from the supervisor's side: prepare, record, launch, watch, and decide the status.

The supervisor is ``benchbase run`` itself. It owns the run directory and the status, so a rank that crashes, hangs
or is killed can never leave a record claiming more than happened: whatever the ranks did or did not write, the
supervisor writes ``summary.json`` last, from the event log, the telemetry and the launcher's exit code.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from benchbase import topology
from benchbase.config import ResolvedConfig
from benchbase.contract import Binding, Case, Vendor
from benchbase.errors import BenchbaseError
from benchbase.events import EventLog, read_events
from benchbase.hostinfo import host_facts
from benchbase.launch import LaunchPlan, plan_launch
from benchbase.launcher_wait import LauncherWait
from benchbase.progress import EventTail, RunView
from benchbase.records import STATUS_EXIT_CODES, RunDir
from benchbase.summary import build_summary
from benchbase.telemetry import Sampler

#: Seconds ranks get to write their last events after SIGINT/SIGTERM before they are killed.
GRACE_S = 20.0
#: Longest sleep of the watch loop: the live view and the list of the run's processes are brought up to date this
#: often. The launcher's exit, a signal and every deadline wake it at once (see :mod:`benchbase.launcher_wait`).
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


def bindings_for(
    vendor: Vendor, nproc: int, device_indices: list[int], sysfs_root: Path
) -> tuple[list[Binding | None], str | None]:
    """Per local rank, the CPUs local to its device, from the vendor's reading of real topology, narrowed to the CPUs
    this process may use (which the ranks inherit), with one line when that changed them."""
    planned = [vendor.binding(rank, device_indices[rank], sysfs_root, local_world_size=nproc) for rank in range(nproc)]
    return topology.fit_to_allowed(sysfs_root, planned, os.sched_getaffinity(0))


def local_device_indices(vendor: Vendor, nproc: int) -> list[int]:
    """Discover devices (fail fast with the vendor's one-line reason) and map local ranks onto them."""
    devices = vendor.discover()
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
    worker_args = ["--run-dir", str(run_dir or "<run-dir>"), "--cache-dir", str(request.cache_dir)]
    if request.data_dir is not None:
        worker_args += ["--data-dir", str(request.data_dir)]
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
    """Turn SIGINT/SIGTERM into a flag the watch loop acts on (forward to the ranks, then record ``interrupted``)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.received = signum

    def __exit__(self, *exc: Any) -> None:
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


def _last_error_line(run_dir: RunDir, names: list[str] | None = None) -> str | None:
    """The cause of a failure in one line, from the first log (of ``names``, default every log) that names one.

    A rank stopped by a user's mistake writes ``error: <problem>; <fix>`` (see :func:`benchbase.worker.main`); that
    line is quoted whole. Otherwise the last line naming a Python error, which ends a traceback.
    """
    logs = [Path(run_dir.logs_dir) / n for n in names] if names else sorted(Path(run_dir.logs_dir).glob("*.log"))
    for log in logs:
        try:
            lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            continue
        recent = lines[-40:]
        told = next((ln for ln in reversed(recent) if ln.startswith("error: ")), None)
        if told is not None:
            return f"{log.name}: {told[len('error: '):][:1000]}"
        for line in reversed(recent):
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

    torchrun names as root cause the failure with the smallest timestamp, but its timestamps are whole seconds and a
    tie goes to the lowest rank; so a rank killed by a signal torchrun does not send (SIGKILL, SIGSEGV, ...) is the
    cause whatever torchrun says, and otherwise its root cause (the report's last entry) is taken.
    """
    try:
        text = (Path(run_dir.logs_dir) / "launcher.log").read_text(errors="replace")
    except OSError:
        return None
    start = text.rfind("Failures:")
    entries = _FAILURE_ENTRY.findall(text[start:]) if start >= 0 else []
    if not entries:
        return None
    outside = [e for e in entries if e[2] and e[2] not in _LAUNCHER_SIGNALS]
    rank, code, signame = outside[0] if outside else entries[-1]
    how = f"was killed by {signame}" if signame else f"exited with code {code}"
    error = _last_error_line(run_dir, [f"rank{rank}.log"])
    return f"rank {rank} {how}" + (f" ({error})" if error else "")


def _decide_status(
    return_code: int | None, timed_out: bool, signalled: int | None, events: list[dict[str, Any]], run_dir: RunDir
) -> tuple[str, str]:
    """The status is the supervisor's own knowledge first (its timeout, a signal it received and forwarded), then the
    launcher's exit code, then what rank 0 recorded. A rank's ``interrupted`` stop alone proves nothing: torchrun
    also sends SIGTERM to the surviving ranks when one rank dies, and that run failed."""
    stop = next((e for e in reversed(events) if e.get("key") == "train_stop"), None)
    reason = stop.get("value") if stop else None
    if timed_out:
        return "timeout", "the run exceeded its --timeout and was stopped"
    if signalled is not None:
        return "interrupted", f"stopped by {signal.Signals(signalled).name}"
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
    values = request.values
    vendor_env = env.get("vendor", {})
    precision = env.get("precision", {})
    return {
        "run_id": Path(run_dir.path).name,
        "case": request.case.name,
        "preset": request.resolved.preset,
        "vendor": request.vendor.name,
        "official": request.resolved.official,
        "started_at": started_at,
        "nnodes": request.nnodes,
        "nproc_per_node": request.nproc_per_node,
        "world_size": request.nnodes * request.nproc_per_node,
        "node_rank": request.node_rank,
        "main_run_id": None,
        "repeat_group": request.repeat_group,
        "repeat_index": request.repeat_index,
        "seed": values.get("seed"),
        "device_model": env.get("device_model"),
        "sdk": vendor_env.get("sdk"),
        "precision": precision.get("label"),
        "per_device_batch": values.get("batch_size"),
        "grad_accum": values.get("grad_accum", 1),
        "metric_name": request.case.metric_name,
        "target": values.get("target"),
        "peak_flops_per_device": env.get("peak_flops_per_device"),
        "config_hash": request.resolved.config_hash,
    }


def environment_record(request: RunRequest, plan: LaunchPlan, device_indices: list[int]) -> dict[str, Any]:
    """``env.json``: host, vendor facts, devices, precision, peak FLOP/s, binding and the launch plan, and which
    distribution (and version) supplied the case and the vendor, so a record names the code that produced it."""
    from benchbase.plugins import provenance

    vendor = request.vendor
    precision = vendor.precision_policy(str(request.values.get("precision", "auto")))
    devices = vendor.discover()
    return {
        "host": host_facts(),
        "vendor": {"name": vendor.name, **vendor.environment()},
        "plugins": {"case": provenance("case", request.case), "vendor": provenance("vendor", vendor)},
        "device_model": devices[0].model if devices else vendor.default_device_model,
        "devices": [
            {"index": d.index, "model": d.model, "memory_total_gib": d.memory_total_gib, "pci_bus_id": d.pci_bus_id,
             **dict(d.extra)}
            for d in devices
        ],
        "local_devices": device_indices,
        "precision": precision.describe(),
        "peak_flops_per_device": vendor.peak_flops(precision.flops_dtype),
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
    # The worker's module needs torch; imported here so commands that never resume start without it.
    from benchbase.worker import CHECKPOINT_FILE, read_checkpoint

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
    """Run one repeat on this node and return its recorded outcome."""
    process_start = time.perf_counter()
    device_indices = local_device_indices(request.vendor, request.nproc_per_node)
    prepared = prepare()
    if request.resume_dir is not None:
        run_dir = RunDir.open(request.resume_dir)
        previous = _check_resumable(run_dir, request.nnodes * request.nproc_per_node)
        started_at = previous.get("started_at") or _utc_now()
        previous_e2e = float((previous.get("windows") or {}).get("e2e_s") or 0.0)
    else:
        run_dir = RunDir.create_unique(
            request.out_root, request.case.name, request.vendor.name, request.nnodes, request.nproc_per_node
        )
        started_at = _utc_now()
        previous_e2e = 0.0
    bindings, binding_note = bindings_for(request.vendor, request.nproc_per_node, device_indices, request.sysfs_root)
    plan = plan_for(request, Path(run_dir.path), bindings, binding_note)
    env = environment_record(request, plan, device_indices)
    env["prepare"] = prepared
    env.update(request.extra_record)
    base = _base_summary(request, run_dir, env, started_at)
    if request.resume_dir is None:
        run_dir.write_config(
            request.resolved.to_record(),
            extra={"run_id": base["run_id"], "case": request.case.name, "vendor": request.vendor.name,
                   "topology": f"{request.nnodes}x{request.nproc_per_node}"},
        )
        run_dir.write_env(env)
    run_dir.write_summary(build_summary(run_dir, {**base, "status": "running"}))
    events = EventLog(Path(run_dir.events_path), rank=None)
    events.emit("launch", plan.kind, commands=[plan.describe()["command"]], node_rank=request.node_rank)
    values = request.values
    sampler = Sampler(
        Path(run_dir.telemetry_path),
        request.node_rank,
        request.vendor.open_sensors(sorted(set(device_indices))),
        float(values.get("telemetry_interval_s", 1.0)),
        sorted(set(device_indices)),
        root_pid=os.getpid(),
    )
    timeout_s = float(values.get("timeout_s") or 0.0)
    timed_out = False
    return_code: int | None = None
    if binding_note:
        console.print(f"[yellow]{binding_note}[/]", soft_wrap=True, highlight=False)
    with _Signals() as signals, _launcher_log(run_dir) as launcher_log:
        sampler.begin()
        proc = subprocess.Popen(
            plan.command,
            env={**os.environ, **plan.environment()},
            stdout=launcher_log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        processes = _RunProcesses(proc)
        tail = EventTail(Path(run_dir.events_path))
        title = f"{request.case.name} on {request.vendor.name} {request.nnodes}x{request.nproc_per_node}"
        with RunView(console, title, values.get("max_steps"), values.get("target")) as view, \
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
    status, reason = _decide_status(return_code, timed_out, signals.received, recorded, run_dir)
    exit_code = STATUS_EXIT_CODES[status]
    node_file = Path(run_dir.path) / "node.json"
    if node_file.exists():
        base["main_run_id"] = json.loads(node_file.read_text()).get("main_run_id")
    e2e_s = previous_e2e + (time.perf_counter() - process_start)
    events.emit("run_stop", status, exit_code=exit_code, reason=reason)
    events.close()
    summary = build_summary(
        run_dir,
        {**base, "status": status, "exit_code": exit_code, "reason": reason, "ended_at": _utc_now(), "e2e_s": e2e_s},
        extras={"telemetry_errors": sampler.errors, "rendezvous": processes.rendezvous},
    )
    run_dir.write_summary(summary)
    return RunOutcome(Path(run_dir.path), status, exit_code, summary)


def dry_run_plan(request: RunRequest) -> dict[str, Any]:
    """What ``--dry-run`` prints: the resolved config, bindings, precision and the launch command, starting nothing."""
    nproc = request.nproc_per_node
    try:
        device_indices = local_device_indices(request.vendor, nproc)
        detected = True
    except BenchbaseError:
        device_indices = list(range(nproc))
        detected = False
    bindings, binding_note = bindings_for(request.vendor, nproc, device_indices, request.sysfs_root)
    plan = plan_for(request, None, bindings, binding_note)
    precision = request.vendor.precision_policy(str(request.values.get("precision", "auto")))
    return {
        "devices_detected": detected,
        "precision": precision.describe(),
        "launch": plan.describe(),
    }

