"""One run as the report sees it: the fields of ``summary.json`` (schema 2 or 1, docs/records.md), type-checked.

The report reads records that people copy around, hand-edit and truncate, so every field is checked against the
type the format promises before any arithmetic touches it. A field of the wrong type makes the whole record
unusable (:class:`SummaryError`, turned into a "skipped" line by the loader); a measurement that is absent is read
as ``None`` ("not measured"), because a record from a crashed run may lack it and still count for stability.
A non-finite number (``NaN`` from a diverged run) is also read as ``None``: it is no measurement either.
Schema-1 records stay readable, because runs are compared across benchbase versions: their one extra of the
case (``final_<name>``) is read as ``final_extras`` of schema 2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The summary schemas this report reads; the newest is what ``benchbase run`` writes.
SUMMARY_SCHEMAS = (1, 2)

#: Statuses a finished run can have (``running`` is handled by the loader before parsing).
FINAL_STATUSES = ("converged", "not_converged", "failed", "interrupted", "timeout")
#: Statuses whose run finished its training loop; their throughput is a full measurement.
COMPLETED_STATUSES = ("converged", "not_converged")


class SummaryError(ValueError):
    """``summary.json`` exists but cannot be used; the message is the "skipped" reason."""


@dataclass(frozen=True)
class Run:
    """A finished run (for a multi-node run: all nodes merged into one, see :mod:`.multinode`)."""

    path: Path
    run_id: str
    case: str
    preset: str
    vendor: str
    official: bool
    status: str
    nnodes: int
    nproc_per_node: int
    world_size: int
    device_model: str
    sdk: str
    precision: str
    per_device_batch: int
    global_batch: int
    metric_name: str
    target: float
    node_rank: int = 0
    main_run_id: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    repeat_group: str | None = None
    repeat_index: int | None = None
    #: The seed the run trained with (each repeat of a group has its own, docs/records.md).
    seed: int | None = None
    grad_accum: int | None = None
    final_metric: float | None = None
    #: The case's extras of the last evaluation (name -> value, finite only), in the case's order.
    final_extras: Mapping[str, float] = field(default_factory=dict)
    initial_metric: float | None = None
    steps: int | None = None
    samples: int | None = None
    converged_step: int | None = None
    converged_samples: int | None = None
    init_s: float | None = None
    train_s: float | None = None
    eval_s: float | None = None
    core_s: float | None = None
    whole_s: float | None = None
    e2e_s: float | None = None
    p_train: float | None = None
    p_core: float | None = None
    p_whole: float | None = None
    fps_e2e: float | None = None
    time_to_target_s: float | None = None
    flops_per_sample: float | None = None
    peak_flops_per_device: float | None = None
    mfu: float | None = None
    power_w_per_device: float | None = None
    energy_per_sample_j: float | None = None
    harness_cpu_share: float | None = None
    data_wait_s: float | None = None
    power_source: str | None = None
    peak_memory_gib_per_device: float | None = None
    config_hash: str | None = None
    #: One device's memory capacity in GiB, for the used/total memory cell.
    device_memory_total_gib: float | None = None
    #: Where the run ran (node 0 for a multi-node run) and whether its ranks had a CPU each (docs/records.md).
    hostname: str | None = None
    host_cpus: int | None = None
    host_threads: int | None = None
    oversubscribed: bool | None = None
    #: Whether other processes took more than a tenth of the host's CPU time while the run trained, and that share.
    contended: bool | None = None
    others_cpu_share: float | None = None
    #: Package versions the run ran with, as sorted (name, version) pairs; ``None`` when not recorded.
    software: tuple[tuple[str, str | None], ...] | None = None
    #: Directories of the other nodes' records merged into this run (multi-node).
    part_paths: tuple[Path, ...] = ()
    #: What the report had to assume or could not find while reading this run (shown in the detail view).
    notes: tuple[str, ...] = field(default=())

    @property
    def topology(self) -> str:
        """``NxM``: nodes x processes per node, the ``--config`` spelling."""
        return f"{self.nnodes}x{self.nproc_per_node}"

    @property
    def completed(self) -> bool:
        return self.status in COMPLETED_STATUSES


#: Configuration's SDK part when the vendor's environment() gave no ``sdk``.
SDK_NOT_REPORTED = "SDK not reported"

_STR, _INT, _NUM, _BOOL, _EXTRAS = "a string", "an integer", "a number", "true or false", "an object of numbers"
_VERSIONS = "an object of version strings"

#: Run attribute -> (location in summary.json, expected kind, required). Required fields identify the run and its
#: configuration; without them it cannot be placed in any row.
SUMMARY_FIELDS: dict[str, tuple[tuple[str, ...], str, bool]] = {
    "run_id": (("run_id",), _STR, True),
    "case": (("case",), _STR, True),
    "preset": (("preset",), _STR, True),
    "vendor": (("vendor",), _STR, True),
    "official": (("official",), _BOOL, True),
    "status": (("status",), _STR, True),
    "nnodes": (("nnodes",), _INT, True),
    "nproc_per_node": (("nproc_per_node",), _INT, True),
    "world_size": (("world_size",), _INT, True),
    "device_model": (("device_model",), _STR, True),
    "sdk": (("sdk",), _STR, False),
    "precision": (("precision",), _STR, True),
    "per_device_batch": (("per_device_batch",), _INT, True),
    "global_batch": (("global_batch",), _INT, True),
    "metric_name": (("metric_name",), _STR, True),
    "target": (("target",), _NUM, True),
    "node_rank": (("node_rank",), _INT, False),
    "main_run_id": (("main_run_id",), _STR, False),
    "exit_code": (("exit_code",), _INT, False),
    "reason": (("reason",), _STR, False),
    "started_at": (("started_at",), _STR, False),
    "ended_at": (("ended_at",), _STR, False),
    "repeat_group": (("repeat_group",), _STR, False),
    "repeat_index": (("repeat_index",), _INT, False),
    "seed": (("seed",), _INT, False),
    "grad_accum": (("grad_accum",), _INT, False),
    "final_metric": (("final_metric",), _NUM, False),
    "final_extras": (("final_extras",), _EXTRAS, False),
    "initial_metric": (("initial_metric",), _NUM, False),
    "steps": (("steps",), _INT, False),
    "samples": (("samples",), _INT, False),
    "converged_step": (("converged_step",), _INT, False),
    "converged_samples": (("converged_samples",), _INT, False),
    "init_s": (("windows", "init_s"), _NUM, False),
    "train_s": (("windows", "train_s"), _NUM, False),
    "eval_s": (("windows", "eval_s"), _NUM, False),
    "core_s": (("windows", "core_s"), _NUM, False),
    "whole_s": (("windows", "whole_s"), _NUM, False),
    "e2e_s": (("windows", "e2e_s"), _NUM, False),
    "p_train": (("throughput", "p_train"), _NUM, False),
    "p_core": (("throughput", "p_core"), _NUM, False),
    "p_whole": (("throughput", "p_whole"), _NUM, False),
    "fps_e2e": (("throughput", "fps_e2e"), _NUM, False),
    "time_to_target_s": (("time_to_target_s",), _NUM, False),
    "flops_per_sample": (("flops_per_sample",), _NUM, False),
    "peak_flops_per_device": (("peak_flops_per_device",), _NUM, False),
    "mfu": (("mfu",), _NUM, False),
    "power_w_per_device": (("power", "mean_w_per_device"), _NUM, False),
    "energy_per_sample_j": (("power", "energy_per_sample_j"), _NUM, False),
    "harness_cpu_share": (("harness", "share_of_train"), _NUM, False),
    "data_wait_s": (("windows", "data_wait_s"), _NUM, False),
    "power_source": (("power", "source"), _STR, False),
    "peak_memory_gib_per_device": (("memory", "peak_gib_per_device"), _NUM, False),
    "config_hash": (("config_hash",), _STR, False),
    "device_memory_total_gib": (("device_memory_total_gib",), _NUM, False),
    "hostname": (("host", "hostname"), _STR, False),
    "host_cpus": (("host", "cpus"), _INT, False),
    "host_threads": (("host", "threads"), _INT, False),
    "oversubscribed": (("host", "oversubscribed"), _BOOL, False),
    "contended": (("host", "contended"), _BOOL, False),
    "others_cpu_share": (("host", "others_cpu_share"), _NUM, False),
    "software": (("software",), _VERSIONS, False),
}

def parse_summary(data: Any, path: Path) -> Run:
    """Check ``data`` (the loaded ``summary.json``) against its schema and build the :class:`Run`."""
    if not isinstance(data, Mapping):
        raise SummaryError(f"summary.json holds {_json_kind(data)}, not an object")
    schema = data.get("schema")
    if schema not in SUMMARY_SCHEMAS or isinstance(schema, bool):
        readable = " and ".join(map(str, SUMMARY_SCHEMAS))
        raise SummaryError(f"summary.json schema is {schema!r}; this report reads schemas {readable}")
    if schema == 1:
        data = _from_schema_1(data)
    values: dict[str, Any] = {}
    for name, (location, kind, required) in SUMMARY_FIELDS.items():
        values[name] = _read(data, location, kind, required)
    if values["status"] not in FINAL_STATUSES:
        raise SummaryError(f"summary.json status {values['status']!r} is not one of {', '.join(FINAL_STATUSES)}")
    for name in ("nnodes", "nproc_per_node", "world_size", "per_device_batch", "global_batch"):
        if values[name] < 1:
            raise SummaryError(f"summary.json field '{name}' is {values[name]}, expected at least 1")
    values["node_rank"] = values["node_rank"] or 0
    values["final_extras"] = values["final_extras"] or {}
    # environment() is optional for a vendor; a row without the key says so instead of being dropped.
    values["sdk"] = values["sdk"] or SDK_NOT_REPORTED
    return Run(path=path, **values)


def _from_schema_1(data: Mapping[str, Any]) -> dict[str, Any]:
    """A schema-1 summary in the schema-2 shape: its ``final_<name>`` numbers besides ``final_metric`` (there was
    one, the CPM case's extra) become ``final_extras``; a field of another type there was no extra and is dropped."""
    extras = {
        key.removeprefix("final_"): value
        for key, value in data.items()
        if key.startswith("final_") and key != "final_metric" and isinstance(value, (int, float))
        and not isinstance(value, bool)
    }
    return {**data, "final_extras": extras}


def _read(data: Mapping[str, Any], location: tuple[str, ...], kind: str, required: bool) -> Any:
    dotted = ".".join(location)
    value: Any = data
    for key in location:
        if value is None and not required:
            return None  # an optional object written as null (no env.json for "host"): nothing in it was recorded
        if not isinstance(value, Mapping):
            raise SummaryError(f"summary.json field '{dotted}': its parent is {_json_kind(value)}, not an object")
        if key not in value:
            if required:
                raise SummaryError(f"summary.json lacks the field '{dotted}'")
            return None
        value = value[key]
    if value is None:
        if required:
            raise SummaryError(f"summary.json field '{dotted}' is null")
        return None
    if kind == _BOOL and isinstance(value, bool):
        return value
    if kind == _STR and isinstance(value, str):
        return value
    if kind == _INT and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == _NUM and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            if required:
                raise SummaryError(f"summary.json field '{dotted}' is {value}, expected a finite number")
            return None
        return float(value)
    if kind == _VERSIONS and isinstance(value, Mapping) and all(
        isinstance(version, (str, type(None))) for version in value.values()
    ):
        return tuple(sorted((str(name), version) for name, version in value.items()))
    if kind == _EXTRAS and isinstance(value, Mapping):
        # Each extra is read as an optional number: a null one (a NaN is written as null) was not measured.
        extras = {name: _read(data, (*location, name), _NUM, False) for name in value}
        return {name: number for name, number in extras.items() if number is not None}
    raise SummaryError(f"summary.json field '{dotted}' is {_json_kind(value)}, expected {kind}")


def _json_kind(value: Any) -> str:
    """Name a decoded JSON value the way a person editing the file would."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:17] + "..."
        return f"{shown!r} (a string)"
    if isinstance(value, (int, float)):
        return f"{value} (a number)"
    return "null"
