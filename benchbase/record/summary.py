"""``summary.json``: what the supervisor knows, plus everything derived from the events and telemetry.

This module is the reference for every derived number in docs/records.md. Nothing is taken on trust from the
worker that can be recomputed from the record: throughputs, MFU, power and energy are computed here from the
windows, sample counts and telemetry rows, so a reader can redo each number from the files in the run folder.
A run that died early still gets a valid summary: what was never measured is ``null``, never a guess.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchbase.errors import BenchbaseError
from benchbase.hardware.topology import parse_cpulist
from benchbase.record import schema
from benchbase.record import spans as counted
from benchbase.record.cpu_load_file import read_cpu_load, read_sampler_cpu
from benchbase.record.events import eval_extras, event_lines
from benchbase.record.power import power_summary, telemetry_summary
from benchbase.record.provenance_summary import provenance_summary
from benchbase.record.rundir import RecordError, RunDir
from benchbase.record.telemetry_file import telemetry_lines
from benchbase.record.telemetry_scan import TelemetryScan, scan_telemetry

#: Above this share of the host's CPU time taken by other processes during the attempts, a run was contended:
#: a tenth of the CPUs busy with someone else's work is more than the run-to-run noise of a quiet machine.
CONTENDED_SHARE = 0.10


def base_summary(**values: Any) -> dict[str, Any]:
    """The base fields of a summary, in the schema's order: what the supervisor knows before training.

    Keyword arguments, so the supervisor names each field; a name the schema does not declare as a base field is a
    programming error (a misspelt field would otherwise be silently left out of the record).
    """
    unknown = sorted(set(values) - schema.base_field_names())
    if unknown:
        raise ValueError(f"base_summary got unknown base field(s) {', '.join(unknown)}")
    order = [key.name for field in schema.SUMMARY_FIELDS for key in (field, *field.keys)]
    return {name: values[name] for name in order if name in values}


def build_summary(
    run_dir: RunDir | Path, base: Mapping[str, Any], extras: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The schema-2 summary of a run, from ``base`` and the run folder's ``events.jsonl`` and telemetry files.

    Used at the start of a run (``status: running``, no events yet) and at its end. Every field of
    :data:`benchbase.record.schema.SUMMARY_FIELDS` is written, in its order: derived from the record where this
    module knows how, else the base field's value, else null. ``exit_code`` defaults to the one the status implies.
    Where the worker's ``run_start`` event and ``base`` both say the target or world size, the event wins for the
    target (it is what the workload judged convergence against) and ``base`` for the world size (it is what was
    launched). ``extras`` (e.g. ``telemetry_errors``) are appended after the schema fields; they are kept apart from
    ``base`` so a misspelt base field is an error instead of a silent extra key. (The case's own evaluation extras,
    e.g. CPM's token accuracy, are another thing: ``final_extras`` and ``initial_extras`` hold those of the last and
    first ``eval`` event, whatever their names, so the core names no case's metric.)
    """
    unknown = sorted(set(base) - schema.base_field_names())
    if unknown:
        raise ValueError(f"build_summary got unknown base field(s) {', '.join(unknown)}")
    missing = [
        field.name for field in schema.SUMMARY_FIELDS if field.base and field.required and field.name not in base
    ]
    if missing:
        raise ValueError(f"build_summary needs base field(s) {', '.join(missing)}")
    clashes = sorted(set(extras or {}) & set(schema.field_names()))
    if clashes:
        raise ValueError(f"build_summary extras {', '.join(clashes)} are schema fields; pass them in base")
    run_dir = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
    events = _events(run_dir)

    run_start = events.last.get("run_start")
    start_meta = _metadata(run_start)
    train_stop = events.last.get("train_stop")
    stop_meta = _metadata(train_stop)
    windows_event = events.last.get("windows")
    window_values = windows_event.get("value") if windows_event and isinstance(windows_event.get("value"), dict) else {}
    window_meta = _metadata(windows_event)

    status = base["status"]
    world_size = _int(base.get("world_size"))
    if world_size is None:
        world_size = _int(start_meta.get("world_size"))
    target = _number(start_meta.get("target"))
    if target is None:
        target = _number(base.get("target"))
    steps, samples = _progress(train_stop, events)

    worker_windows = schema.WINDOW_KEYS[:-1]
    windows: dict[str, float | None] = {key: _number(window_values.get(key)) for key in worker_windows}
    windows["e2e_s"] = _number(base.get("e2e_s"))
    steady = _steady_samples(samples, window_meta)
    throughput = {
        "p_train": _ratio(steady, windows["train_s"]),
        "p_core": _ratio(steady, windows["core_s"]),
        "p_whole": _ratio(samples, windows["whole_s"]),
        "fps_e2e": _ratio(samples, windows["e2e_s"]),
    }
    environment = _environment(run_dir)
    devices = _physical_devices(environment, _int(base.get("nnodes")), world_size)
    flops_per_sample = _number(start_meta.get("flops_per_sample"))
    peak_flops = _number(base.get("peak_flops_per_device"))
    mfu = None
    if throughput["p_train"] is not None and flops_per_sample is not None and devices and peak_flops:
        mfu = throughput["p_train"] * flops_per_sample / (devices * peak_flops)

    scan = scan_telemetry(telemetry_rows(run_dir), counted.steady(window_meta))
    telemetry = telemetry_summary(scan, window_meta, _telemetry_interval_s(run_dir),
                                  read_sampler_cpu(run_dir.telemetry_path.with_name(schema.CPU_LOAD_FILE)))
    first_eval, last_eval = events.first_eval, events.last.get("eval")
    derived: dict[str, Any] = {
        "schema": schema.SUMMARY_SCHEMA,
        "exit_code": base.get("exit_code", schema.STATUS_EXIT_CODES.get(status) if status != schema.RUNNING else None),
        "world_size": world_size,
        "devices": devices,
        "global_batch": _int(start_meta.get("global_batch")),
        "target": target,
        "final_metric": _number(last_eval.get("value")) if last_eval else None,
        "final_extras": eval_extras(_metadata(last_eval)) if last_eval else None,
        "initial_metric": _number(first_eval.get("value")) if first_eval else None,
        "initial_extras": eval_extras(_metadata(first_eval)) if first_eval else None,
        "final_eval_samples": _int(_metadata(last_eval).get("eval_samples")),
        "steps": steps,
        "samples": samples,
        "converged_step": _int(stop_meta.get("converged_step")),
        "converged_samples": _int(stop_meta.get("converged_samples")),
        "windows": windows,
        "throughput": throughput,
        "time_to_target_s": _number(stop_meta.get("time_to_target_s")),
        "flops_per_sample": flops_per_sample,
        "peak_flops_per_device": peak_flops,
        "mfu": mfu,
        "power": power_summary(
            scan, window_meta, devices, steady, telemetry["achieved_hz"], telemetry["interval_s"]
        ),
        "telemetry": telemetry,
        "harness": _harness(base, window_values, windows["train_s"]),
        "threads": _threads(start_meta.get("threads")),
        "memory": _memory(scan, window_meta),
        "device_memory_total_gib": scan.memory_total_max,
        "host": _host(environment, run_dir, window_meta),
        "software": _software(environment),
        "provenance": provenance_summary(environment),
    }
    summary = {
        field.name: derived[field.name] if field.name in derived else base.get(field.name)
        for field in schema.SUMMARY_FIELDS
    }
    return {**summary, **(extras or {})}


def _metadata(event: Mapping[str, Any] | None) -> Mapping[str, Any]:
    metadata = event.get("metadata") if event else None
    return metadata if isinstance(metadata, Mapping) else {}


def _number(value: Any) -> float | int | None:
    """A number as recorded (NaN included: a diverged metric must show), or ``None`` for anything else."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or ``None`` when either is unknown or the denominator is zero or not finite."""
    if numerator is None or denominator is None or not math.isfinite(denominator) or denominator == 0:
        return None
    return numerator / denominator


def _steady_samples(samples: int | None, window_meta: Mapping[str, Any]) -> int | None:
    """The samples trained after the warm-ups, which ``p_train`` and ``p_core`` divide; ``None`` when none were (a
    budget spent inside the warm-up has no steady window, and a rate over it would be a wrong number, not a small
    one). A record written before warm-ups were recorded has ``warmup_samples`` absent: all its samples count."""
    if samples is None:
        return None
    warmup = _int(window_meta.get("warmup_samples"))
    steady = samples - (warmup or 0)
    return steady if steady > 0 else None


def _progress(train_stop: Mapping[str, Any] | None, events: _SummaryEvents) -> tuple[int | None, int | None]:
    """Steps and samples at ``train_stop``; for a run that died before it, the last step/samples any event reported."""
    if train_stop is not None:
        return _int(train_stop.get("step")), _int(train_stop.get("samples"))
    return events.last_step, events.last_samples


#: The kinds of event whose latest one a summary reads.
_LAST_KEPT = frozenset({"run_start", "train_stop", "windows", "eval"})


@dataclass
class _SummaryEvents:
    """What the summary needs of ``events.jsonl``, gathered in one pass over it (a 4-hour run logs a million step
    events, never held): the latest event of each kind (after ``--resume`` the log holds the first attempt's events
    too), the first evaluation, and the last step and samples any event reported."""

    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    first_eval: dict[str, Any] | None = None
    last_step: int | None = None
    last_samples: int | None = None

    def add(self, event: dict[str, Any]) -> None:
        if event["key"] in _LAST_KEPT:
            self.last[event["key"]] = event
        if self.first_eval is None and event["key"] == "eval":
            self.first_eval = event
        if _int(event.get("step")) is not None:
            self.last_step = _int(event.get("step"))
        if _int(event.get("samples")) is not None:
            self.last_samples = _int(event.get("samples"))


def _events(run_dir: RunDir) -> _SummaryEvents:
    """The record's events as the summary needs them; a missing or unreadable log (a FIFO, a symlink, one too large:
    see :mod:`benchbase.record.files`) has none, and the summary says what was never measured."""
    gathered = _SummaryEvents()
    try:
        for line in event_lines(run_dir.events_path):
            if line.event is not None:
                gathered.add(line.event)
    except RecordError:
        return _SummaryEvents()
    return gathered


def telemetry_rows(run_dir: RunDir) -> Iterator[dict[str, Any]]:
    """All nodes' rows, one at a time; an unreadable file contributes none (the summary must still be written)."""
    for path in run_dir.telemetry_paths():
        try:
            yield from (row for row in telemetry_lines(path) if row is not None)
        except RecordError:
            continue


def _threads(recorded: Any) -> dict[str, dict[str, int]] | None:
    """``run_start``'s per-rank thread lists as objects keyed by global rank; ``None`` when not recorded."""
    if not isinstance(recorded, Mapping):
        return None
    lists = {key: recorded.get(key) for key in ("policy", "used")}
    if not all(isinstance(counts, list) and all(_int(n) is not None for n in counts) for counts in lists.values()):
        return None
    return {key: {str(rank): int(n) for rank, n in enumerate(counts)} for key, counts in lists.items()}


def _harness(base: Mapping[str, Any], window_values: Mapping[str, Any], train_s: float | None) -> dict[str, Any]:
    """The harness's own CPU: the supervisor process (its telemetry sampler, event tail and live view included)
    while the ranks ran, plus rank 0's event writing, as a share of the train window. A measure of overhead that
    does not depend on how busy the host is (docs/records.md, "harness")."""
    supervisor = _number(base.get("supervisor_cpu_s"))
    events = _number(window_values.get("events_cpu_s"))
    parts = [value for value in (supervisor, events) if value is not None]
    total = sum(parts) if parts else None
    return {
        "supervisor_cpu_s": supervisor,
        "events_cpu_s": events,
        "cpu_s": total,
        "share_of_train": _ratio(total, train_s) if total is not None else None,
    }


def _environment(run_dir: RunDir) -> Mapping[str, Any]:
    """``env.json`` of the run, or ``{}`` when it is missing or damaged (the summary must still be written)."""
    try:
        return run_dir.read_env()
    except (RecordError, OSError):
        return {}


def _host(environment: Mapping[str, Any], run_dir: RunDir, window_meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """Where the run ran and whether it had its CPUs to itself, from ``env.json`` and ``cpu_load.csv``
    (docs/records.md, "host").

    A scale point is only comparable with its one-device baseline when neither fought for CPUs. ``oversubscribed``
    is true when this node started more ranks, or its ranks more threads, than the CPUs the run may use: a rank
    uses the threads the launch plan's policy gave it (``launch.threads``: one per CPU it is bound to); in records
    made before that policy, one per CPU of its binding and one for a rank without a binding. ``contended`` is
    true when processes outside the run took more than :data:`CONTENDED_SHARE` of the host's CPU time during the
    attempts (``others_cpu_share``); null when that was not sampled (telemetry off).
    """
    host, launch = environment.get("host"), environment.get("launch")
    if not isinstance(host, Mapping) or not isinstance(launch, Mapping):
        return None
    cpus = _int(host.get("affinity")) or _int(host.get("cpu_count_logical"))
    ranks = _int(launch.get("nproc_per_node"))
    bindings = launch.get("bindings") if isinstance(launch.get("bindings"), list) else []
    if cpus is None or ranks is None:
        return None
    threads = max(ranks, sum(_cpu_count(bound.get("cpus")) if isinstance(bound, Mapping) else 1 for bound in bindings))
    policy = launch.get("threads")
    if isinstance(policy, list) and policy and all(_int(n) is not None for n in policy):
        threads = max(ranks, sum(int(n) for n in policy))
    others = _others_cpu_share(run_dir, window_meta, _int(host.get("cpu_count_logical")) or cpus)
    return {
        "hostname": host.get("hostname") if isinstance(host.get("hostname"), str) else None,
        "cpus": cpus,
        "ranks": ranks,
        "threads": threads,
        "oversubscribed": threads > cpus,
        "others_cpu_share": others,
        "contended": None if others is None else others > CONTENDED_SHARE,
    }


def _others_cpu_share(run_dir: RunDir, window_meta: Mapping[str, Any], host_cpus: int) -> float | None:
    """The share of the host's CPU capacity that processes outside the run used while it trained.

    Over each attempt (:func:`benchbase.record.spans.attempts`; an idle gap between two attempts is no one's
    contention of this run): the host's busy CPU seconds less the run's own, between the attempt's first and last
    ``cpu_load.csv`` sample inside it; the attempts combined weighted by their time, i.e. their others' CPU seconds
    over their seconds times the host's CPUs. ``None`` when no attempt holds two samples.
    """
    samples = read_cpu_load(run_dir.telemetry_path.with_name(schema.CPU_LOAD_FILE))
    others = capacity = 0.0
    for begin, end in counted.attempts(window_meta):
        inside = [row for row in samples if begin <= row[0] <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            continue
        (t0, busy0, own0), (t1, busy1, own1) = inside[0], inside[-1]
        others += (busy1 - busy0) - (own1 - own0)
        capacity += (t1 - t0) / 1000 * host_cpus
    return max(0.0, others / capacity) if capacity else None


def _physical_devices(environment: Mapping[str, Any], nnodes: int | None, world_size: int | None) -> int | None:
    """The physical devices the per-device figures divide by: the distinct devices this node's ranks used
    (``env.json`` ``local_devices``, one index per local rank) times the nodes, each node running the same launch.
    Ranks sharing one device (the CPU vendor's ranks share the host) count it once. A record that cannot say (no
    ``env.json``, an older one without ``local_devices``) counts one device per rank, ``world_size``."""
    local = environment.get("local_devices")
    if isinstance(local, list) and local and all(_int(index) is not None for index in local):
        return len({_int(index) for index in local}) * (nnodes or 1)
    return world_size


def _telemetry_interval_s(run_dir: RunDir) -> float | None:
    """The configured sampling interval (``config.yaml`` ``values.telemetry_interval_s``; 0 means off), or
    ``None`` where the record has no readable config."""
    try:
        values = run_dir.read_config().get("values")
    except (RecordError, OSError):
        return None
    return _number(values.get("telemetry_interval_s")) if isinstance(values, Mapping) else None


def _cpu_count(cpu_list: Any) -> int:
    """CPUs in a binding's ``0-3,8`` list; an unreadable list counts as one."""
    try:
        return max(len(parse_cpulist(cpu_list)), 1) if isinstance(cpu_list, str) else 1
    except BenchbaseError:
        return 1


def _software(environment: Mapping[str, Any]) -> dict[str, Any] | None:
    """The versions of the packages that shape a result (``env.json`` ``host.packages``); two runs with different
    versions ran different software, even under one SDK label."""
    host = environment.get("host")
    packages = host.get("packages") if isinstance(host, Mapping) else None
    return dict(packages) if isinstance(packages, Mapping) else None


def _memory(scan: TelemetryScan, window_meta: Mapping[str, Any]) -> dict[str, Any]:
    """Peak per device: the ranks' own measurement, else the highest memory use telemetry saw."""
    peaks = window_meta.get("peak_memory_gib")
    measured = [x for x in (peaks if isinstance(peaks, list) else []) if _number(x) is not None and math.isfinite(x)]
    if measured:
        return {"peak_gib_per_device": max(measured), "source": "vendor"}
    if scan.memory_used_max is not None:
        return {"peak_gib_per_device": scan.memory_used_max, "source": "telemetry"}
    return {"peak_gib_per_device": None, "source": "unavailable"}
