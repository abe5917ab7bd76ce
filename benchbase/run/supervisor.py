"""One run on one node, from the supervisor's side: prepare, record, launch, watch, and decide the status.

The supervisor is ``benchbase run`` itself. It owns the run directory and the status, so a rank that crashes, hangs
or is killed can never leave a record claiming more than happened: whatever the ranks did or did not write, the
supervisor writes ``summary.json`` last, from the event log, the telemetry and the launcher's exit code. The steps
live beside it: signals (:mod:`benchbase.run.signals`), the watch loop and the process tree
(:mod:`benchbase.run.watch`), the status (:mod:`benchbase.run.status`), ``env.json``
(:mod:`benchbase.run.environment`) and the rules of a resume (:mod:`benchbase.run.resume`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.markup import escape

from benchbase.contract import Sensors, Vendor
from benchbase.errors import BenchbaseError
from benchbase.foreign import visible
from benchbase.launch.plan import LaunchPlan
from benchbase.record import disk_space
from benchbase.record.events import EventLog, read_events_of
from benchbase.record.files import read_json_record
from benchbase.record.manifest import remove_manifest, write_manifest
from benchbase.record.rundir import RunDir
from benchbase.record.schema import (
    NODE_FILE,
    OBSERVER_ERRORS,
    RENDEZVOUS,
    STATUS_EXIT_CODES,
    TELEMETRY_ERRORS,
)
from benchbase.record.summary import base_summary, build_summary
from benchbase.registry import bounded, checked
from benchbase.registry.bounded import RunStopped
from benchbase.run.environment import with_host
from benchbase.run.live import RunView
from benchbase.run.lock import RunLock
from benchbase.run.preflight import Cleared, clear_to_launch, plan_for, prepare_in_cache
from benchbase.run.request import RunOutcome, RunRequest
from benchbase.run.resume import check_resumable
from benchbase.run.signals import Signals, signal_name
from benchbase.run.status import decide_status
from benchbase.run.telemetry import Sampler
from benchbase.run.watch import RunProcesses, launcher_log, signal_group, start_launcher, watch
from benchbase.run.watchdog import Watchdog
from benchbase.train import prepared_facts
from benchbase.train.observers import OBSERVER_ERROR_EVENT


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        parallelism=core.parallelism,
        per_device_batch=core.batch_size,
        grad_accum=core.grad_accum,
        metric_name=request.case.metric_name,
        target=core.target,
        higher_is_better=request.case.metric.higher_is_better,
        peak_flops_per_device=env.get("peak_flops_per_device"),
        config_hash=request.resolved.config_hash,
    )


def execute(
    request: RunRequest,
    console: Any,
    prepare: Callable[[], dict[str, Any]],
) -> RunOutcome:
    """Run one repeat on this node and return its recorded outcome.

    The run's ``--timeout`` counts from here and is kept from here: discovery and preparation are inside it. Nothing
    is written before every check of :func:`~benchbase.run.preflight.clear_to_launch` has passed and the vendor's
    facts for ``env.json`` are in hand: a stop or a refusal until then leaves no record (and a resumed record as it
    was). From the moment the record exists, every way the attempt can end, an exception included,
    ends in a summary that says how (:class:`_Attempt`).
    """
    process_start = time.perf_counter()
    deadline = bounded.set_deadline(_timeout_s(request), process_start)
    with Signals(deadline) as signals, contextlib.ExitStack() as held:
        watchdog = held.enter_context(Watchdog.start(None if deadline is None else deadline - time.perf_counter()))
        cleared = clear_to_launch(request, lambda: prepare_in_cache(prepare, request.cache_dir), signals.phase)
        signals.phase(f"calling {request.vendor.name}'s open_sensors()")
        sensors = _OpenedSensors.open(request.vendor, cleared.device_indices)
        held.callback(sensors.close)
        if cleared.resumed is not None:
            run_dir = cleared.resumed
            lock = held.enter_context(RunLock.acquire(run_dir.path, "resume"))
            died = lock.settle_orphan()
            if died:
                console.print(f"the last attempt of {escape(visible(run_dir.run_id))} was recorded as failed: "
                              f"{escape(visible(died))}", soft_wrap=True, highlight=False)
            # Checked before the lock (clear_to_launch), so a refused resume leaves not even a lock file, and again
            # under it: another resume may have finished the run meanwhile.
            previous = check_resumable(run_dir, request.nnodes * request.nproc_per_node)
            started_at = previous.get("started_at") or _utc_now()
            previous_e2e = float((previous.get("windows") or {}).get("e2e_s") or 0.0)
        else:
            run_dir = RunDir.create_unique(
                request.out_root, request.case.name, request.vendor.name, request.nnodes, request.nproc_per_node
            )
            held.enter_context(RunLock.acquire(run_dir.path, "run"))
            started_at = _utc_now()
            previous_e2e = 0.0
        watchdog.watch(run_dir.path)
        reserve = _reserve(run_dir, fresh=request.resume_dir is None)
        held.callback(reserve.release)
        signals.phase("starting the ranks")
        attempt = _Attempt(request, console, run_dir, signals, reserve, process_start, started_at, previous_e2e)
        try:
            return _record_and_watch(attempt, cleared, sensors)
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
    signals: Signals
    reserve: disk_space.Reserve
    process_start: float
    started_at: str
    previous_e2e: float
    base: dict[str, Any] | None = None
    events: EventLog | None = None
    sampler: Sampler | None = None
    launcher: subprocess.Popen[bytes] | None = None
    processes: RunProcesses | None = None
    #: This process's CPU seconds (all its threads) when the ranks were launched: the harness's cost is counted
    #: from there to the end (``summary.harness``).
    cpu_at_launch: float | None = None

    def end_early(self, exc: BaseException) -> RunOutcome:
        """The attempt stopped before its ranks ran to an end: by a signal, its deadline, a plugin or the disk."""
        if isinstance(exc, RunStopped):
            if exc.status == "timeout":
                return self.finish("timeout", "the run exceeded its --timeout before its ranks started")
            return self.finish(exc.status, f"stopped by {signal_name(exc.exit_code - 128)} before the ranks started")
        if isinstance(exc, BenchbaseError):
            return self.finish("failed", str(exc))
        if isinstance(exc, OSError):
            # An OS error that names no file met a write of this attempt's record: the run folder is where to look.
            return self.finish("failed", disk_space.describe(exc, exc.filename or self.run_dir.path))
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
            signal_group(self.launcher, signal.SIGKILL)  # its ranks follow it, through their lifeline
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
            self.console.print(
                f"[red]error:[/] the record could not be finished: {escape(visible(problem))}. The run ended "
                f"{status}: {escape(visible(reason))}. Its summary still says running: once its disk is writable "
                f"again, `benchbase report {escape(visible(str(self.run_dir.path.parent)))}` records it as failed "
                "(its supervisor gone)", soft_wrap=True, highlight=False)
        else:
            self._write_manifest()
        return RunOutcome(Path(self.run_dir.path), status, exit_code, summary)

    def _write_manifest(self) -> None:
        """The record's last file: what ``benchbase verify`` checks every other file against. Without it the
        record is still whole; verify then says the manifest is missing."""
        try:
            write_manifest(self.run_dir.path)
        except (BenchbaseError, OSError) as exc:
            problem = str(exc) if isinstance(exc, BenchbaseError) else disk_space.describe(exc)
            self.console.print(f"[yellow]warning:[/] the record's manifest could not be written: "
                               f"{escape(visible(problem))}", soft_wrap=True, highlight=False)


def _record_and_watch(attempt: _Attempt, cleared: Cleared, sensors: _OpenedSensors) -> RunOutcome:
    """Write the record's start, launch the ranks, watch them, and decide and record how the run ended, with what
    :func:`clear_to_launch` found and the vendor's sensors, both had before the record existed."""
    request, console, run_dir, signals = attempt.request, attempt.console, attempt.run_dir, attempt.signals
    plan = plan_for(request, Path(run_dir.path), cleared.bindings, cleared.binding_note)
    prepared = cleared.prepared or {}
    env = with_host({**(cleared.env or {}), "launch": plan.describe()}, request.vendor)
    base = _write_record_start(attempt, plan, env, prepared)
    attempt.sampler = sampler = _sampler(request, run_dir, cleared.device_indices, sensors.claim())
    if cleared.binding_note:
        console.print(f"[yellow]{escape(visible(cleared.binding_note))}[/]", soft_wrap=True, highlight=False)
    with launcher_log(run_dir) as log:
        sampler.begin()
        signals.to_flags()
        attempt.cpu_at_launch = time.process_time()
        # Ranks train on what this attempt prepared on this node, never on a resumed record's older facts.
        attempt.launcher = proc = start_launcher(plan, log, prepared_facts.handover(prepared))
        attempt.processes = processes = RunProcesses(proc)
        title = f"{request.case.name} on {request.vendor.name} {request.nnodes}x{request.nproc_per_node}"
        core = request.resolved.core
        with RunView(console, title, core.max_steps, core.target,
                     higher_is_better=request.case.metric.higher_is_better) as view:
            watched = watch(
                proc, processes, signals, sampler, run_dir, view, _timeout_s(request), attempt.process_start
            )
        sampler.stop()
    # What the status and the summary's observer errors are decided from; a long run's million steps are not held.
    recorded = read_events_of(Path(run_dir.events_path), ("train_stop", "eval", OBSERVER_ERROR_EVENT))
    status, reason = decide_status(
        watched.return_code, watched.timed_out, signals.received, recorded, run_dir, watched.write_failure
    )
    node_file = Path(run_dir.path) / NODE_FILE
    if node_file.exists():
        node = read_json_record(node_file)
        base["main_run_id"] = node.get("main_run_id") if isinstance(node, dict) else None
    extras = {TELEMETRY_ERRORS: sampler.errors, RENDEZVOUS: processes.rendezvous,
              OBSERVER_ERRORS: observer_errors(recorded)}
    return attempt.finish(status, reason, base, extras=extras)


def observer_errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every lifecycle hook that raised (:mod:`benchbase.train.observers`): noted in the summary beside the status,
    which they never change, so a reader of the summary alone still learns that a monitor missed part of the run."""
    return [
        {"plugin": e.get("value"), "hook": (e.get("metadata") or {}).get("hook"),
         "error": (e.get("metadata") or {}).get("error")}
        for e in events if e.get("key") == OBSERVER_ERROR_EVENT
    ]


def _write_record_start(
    attempt: _Attempt, plan: LaunchPlan, env: dict[str, Any], prepared: dict[str, Any]
) -> dict[str, Any]:
    """``config.yaml`` and ``env.json`` (a resumed run keeps its own), the ``running`` summary and the ``launch``
    event; returns the summary's base, which the end of the run completes."""
    request, run_dir = attempt.request, attempt.run_dir
    env["prepare"] = prepared
    env.update(request.extra_record)
    attempt.base = base = _base_summary(request, run_dir, env, attempt.started_at)
    remove_manifest(run_dir.path)  # a resumed record changes from here on
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
    return base


@dataclass
class _OpenedSensors:
    """The vendor's sensors, opened before the record exists (a vendor that cannot open them is refused without a
    record), held until the sampler claims them, which closes them when it stops; closed here if the attempt ends
    before that."""

    vendor: Vendor
    sensors: Sensors | None

    @classmethod
    def open(cls, vendor: Vendor, device_indices: list[int]) -> _OpenedSensors:
        devices = sorted(set(device_indices))
        return cls(vendor, checked.call(vendor, "open_sensors()", checked.SENSORS, vendor.open_sensors, devices))

    def claim(self) -> Sensors | None:
        sensors, self.sensors = self.sensors, None
        return sensors

    def close(self) -> None:
        sensors = self.claim()
        if sensors is not None:
            # The attempt already ended for its own reason, which is what it reports; a close that fails too adds
            # nothing the user can act on.
            with contextlib.suppress(Exception):
                bounded.call(self.vendor, "sensors.close()", sensors.close)


def _sampler(request: RunRequest, run_dir: RunDir, device_indices: list[int], sensors: Sensors | None) -> Sampler:
    """The telemetry sampler of this node's devices, not yet started; it closes ``sensors`` when it stops."""
    devices = sorted(set(device_indices))
    return Sampler(
        Path(run_dir.telemetry_path),
        request.node_rank,
        sensors,
        request.resolved.core.telemetry_interval_s,
        devices,
        root_pid=os.getpid(),
        owner=request.vendor,
    )
