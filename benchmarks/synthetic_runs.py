"""A results folder of many synthetic runs, for timing ``benchbase report`` at scale (benchmark 9).

Each run is a complete record as ``benchbase run`` writes it (docs/records.md): ``summary.json`` (schema 2, checked
by the record layer's own :func:`benchbase.record.rundir.validate_summary` before it is written), ``config.yaml``,
``env.json``, a short ``events.jsonl`` and a short ``telemetry.csv`` (the HTML report plots both). The mix is what
a long-lived shared folder holds, so every step of the report has work to do:

* half the runs use more than one device (1x2, 1x4, 1x8 and two-node 2x2 runs, whose second node is a record of
  its own), the other half are the 1x1 baselines Scalability compares them against;
* eight hosts, two package sets, two presets and two precisions, so baselines must be matched, not just found;
* repeat groups of three beside runs made alone; a few runs failed, were interrupted or did not converge;
* runs on one host mostly follow one another, but about one in ten overlaps the previous run on its host (the
  report's own contention check finds it), and about one in ten recorded contention or oversubscription itself.

Runs are split into :data:`CHUNKS` folders, so a report over the first ``k`` folders reads a smaller folder of the
same mix; the folders are written once and reused (:func:`ensure_folders`).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchbase.record import schema
from benchbase.record.rundir import validate_summary

#: Bump when the records written change, so an older cache is never timed as this one.
VERSION = 2
HOSTS = tuple(f"bench-{number:02d}" for number in range(1, 9))
SOFTWARE = ({"benchbase": "0.1.0", "torch": "2.13.0"}, {"benchbase": "0.1.0", "torch": "2.12.1"})
#: Topologies (nodes, processes per node) of the multi-device half.
MULTI = ((1, 2), (1, 4), (1, 8), (2, 2))
FIRST_START = datetime(2026, 11, 1, tzinfo=timezone.utc)
#: Each run has a slot of this length on its host; a run lasts 40-100 s, so runs in turn never overlap.
SLOT = timedelta(seconds=120)
#: Steps and evaluations in every record: small files, as the point is many runs, not long ones.
STEPS, EVAL_EVERY = 20, 5


@dataclass(frozen=True)
class Plan:
    """What one run is: its place in the folder and the few choices that decide its row and its Scalability."""

    index: int
    host: str
    slot: int
    nnodes: int
    nproc: int
    preset: str
    precision: str
    software: int
    status: str
    repeat_group: str | None
    repeat_index: int
    overlaps: bool
    contended: bool
    oversubscribed: bool


def plans(count: int, seed: int = 7) -> list[Plan]:
    """``count`` runs in the order they were made; the same ``count`` and ``seed`` give the same runs."""
    rng = random.Random(seed)
    made: list[Plan] = []
    slots = dict.fromkeys(HOSTS, 0)
    while len(made) < count:
        host = rng.choice(HOSTS)
        multi = rng.random() < 0.5
        nnodes, nproc = rng.choice(MULTI) if multi else (1, 1)
        preset, precision = rng.choice(("demo", "official")), rng.choice(("FP32", "AMP"))
        software = 0 if rng.random() < 0.8 else 1
        repeats = 3 if rng.random() < 0.4 else 1
        group = f"rg-{len(made):06d}" if repeats > 1 else None
        for repeat in range(min(repeats, count - len(made))):
            roll = rng.random()
            status = (schema.CONVERGED if roll < 0.82 else schema.NOT_CONVERGED if roll < 0.9
                      else schema.FAILED if roll < 0.95 else schema.INTERRUPTED)
            made.append(Plan(
                index=len(made), host=host, slot=slots[host], nnodes=nnodes, nproc=nproc, preset=preset,
                precision=precision, software=software, status=status, repeat_group=group, repeat_index=repeat,
                overlaps=rng.random() < 0.1 and slots[host] > 0, contended=rng.random() < 0.07,
                oversubscribed=rng.random() < 0.03,
            ))
            slots[host] += 1
    return made


def run_id(plan: Plan) -> str:
    return f"cpm_cpu_{plan.nnodes}x{plan.nproc}_{plan.index:06d}"


def summary(plan: Plan, rng: random.Random) -> dict[str, Any]:
    """The run's ``summary.json``, its figures consistent with one another (throughput x time = samples)."""
    world = plan.nnodes * plan.nproc
    start = FIRST_START + plan.slot * SLOT - (SLOT / 2 if plan.overlaps else timedelta(0))
    e2e = rng.uniform(40, 100)
    train = e2e * 0.8
    batch = 16 if plan.preset == "demo" else 32
    completed = plan.status in schema.COMPLETED_STATUSES
    scale = world * rng.uniform(0.55, 0.95)  # what N devices deliver over one
    p_train = 48.0 * scale * rng.uniform(0.95, 1.05) if completed else None
    samples = int(train * p_train) if p_train else None
    power = rng.uniform(90, 250) if plan.index % 3 else None
    cpus = 64
    threads = cpus * (2 if plan.oversubscribed else 1)
    others = rng.uniform(0.15, 0.4) if plan.contended else rng.uniform(0.0, 0.05)
    return {
        "schema": schema.SUMMARY_SCHEMA, "run_id": run_id(plan), "case": "cpm", "preset": plan.preset,
        "vendor": "cpu", "official": plan.preset == "official", "status": plan.status,
        "exit_code": schema.STATUS_EXIT_CODES[plan.status],
        "reason": "target reached" if plan.status == schema.CONVERGED else f"run {plan.status}",
        "started_at": _stamp(start), "ended_at": _stamp(start + timedelta(seconds=e2e)),
        "nnodes": plan.nnodes, "nproc_per_node": plan.nproc, "world_size": world, "devices": world, "node_rank": 0,
        "main_run_id": None, "repeat_group": plan.repeat_group, "repeat_index": plan.repeat_index,
        "seed": 1234 + plan.repeat_index, "device_model": "Intel Xeon Gold 6330", "sdk": "torch 2.13.0",
        "precision": plan.precision, "per_device_batch": batch, "global_batch": batch * world, "grad_accum": 1,
        "metric_name": "embedding_average", "target": 0.91,
        "final_metric": rng.uniform(0.905, 0.93) if completed else None,
        "final_extras": {"token_accuracy": rng.uniform(0.5, 0.6)} if completed else {},
        "initial_metric": 0.62, "initial_extras": {"token_accuracy": 0.18},
        "steps": STEPS, "samples": samples,
        "converged_step": STEPS if plan.status == schema.CONVERGED else None,
        "converged_samples": samples if plan.status == schema.CONVERGED else None,
        "windows": {"init_s": 2.0, "train_s": train, "eval_s": e2e * 0.1, "core_s": train * 0.9,
                    "whole_s": e2e * 0.9, "data_wait_s": 0.01, "warmup_s": 0.5, "e2e_s": e2e},
        "throughput": {"p_train": p_train, "p_core": p_train and p_train * 1.1,
                       "p_whole": p_train and p_train * 0.9, "fps_e2e": p_train and p_train * 0.8},
        "time_to_target_s": e2e * 0.9 if plan.status == schema.CONVERGED else None,
        "flops_per_sample": 1.2e9, "peak_flops_per_device": 2.0e12,
        "mfu": p_train * 1.2e9 / world / 2.0e12 if p_train else None,
        "power": {"mean_w_per_device": power, "energy_per_sample_j": power * world * train / samples
                  if power and samples else None, "source": "telemetry" if power else "unavailable",
                  "energy_source": None, "samples_per_device": 40 if power else 0, "too_few_samples": False},
        "harness": {"supervisor_cpu_s": 0.2, "events_cpu_s": 0.01, "cpu_s": 0.3, "share_of_train": 0.3 / train},
        "memory": {"peak_gib_per_device": rng.uniform(0.6, 1.2), "source": "telemetry"},
        "device_memory_total_gib": None, "config_hash": "sha256:" + _digest(plan.index),
        "host": {"hostname": plan.host, "cpus": cpus, "ranks": world, "threads": threads,
                 "oversubscribed": plan.oversubscribed, "others_cpu_share": others, "contended": others > 0.1},
        "software": SOFTWARE[plan.software],
    }


def node_part(main: dict[str, Any], rank: int) -> dict[str, Any]:
    """The record another node of a multi-node run writes: its own telemetry figures, naming the main run."""
    return {**main, "run_id": f"{main['run_id']}_node{rank}", "node_rank": rank, "main_run_id": main["run_id"]}


def write_run(folder: Path, record: dict[str, Any], rng: random.Random) -> None:
    """One run directory with every file a real run leaves."""
    folder.mkdir(parents=True)
    validate_summary(record)
    (folder / schema.SUMMARY_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    (folder / schema.CONFIG_FILE).write_text(
        f"values:\n  case: cpm\n  preset: {record['preset']}\n  per_device_batch: {record['per_device_batch']}\n"
        f"sources: {{}}\nofficial: {str(record['official']).lower()}\nconfig_hash: {record['config_hash']}\n"
        "vendor_file: null\n", encoding="utf-8")
    (folder / schema.ENV_FILE).write_text(json.dumps({"host": record["host"]["hostname"],
                                                      "vendor": {"sdk": record["sdk"]}}), encoding="utf-8")
    (folder / schema.EVENTS_FILE).write_text(_events(record, rng), encoding="utf-8")
    (folder / schema.TELEMETRY_FILE).write_text(_telemetry(record, rng), encoding="utf-8")


def _events(record: dict[str, Any], rng: random.Random) -> str:
    start_ms = datetime.fromisoformat(record["started_at"].replace("Z", "+00:00")).timestamp() * 1000
    train_ms = record["windows"]["train_s"] * 1000
    per_step = train_ms / STEPS
    rate = record["throughput"]["p_train"] or 10.0
    lines: list[dict[str, Any]] = [
        {"time_ms": start_ms, "key": "launch", "value": record["run_id"], "rank": -1, "metadata": {}},
        {"time_ms": start_ms + 500, "key": "run_start", "value": record["run_id"], "rank": 0,
         "metadata": {"world_size": record["world_size"], "case": "cpm"}},
    ]
    train_start = start_ms + record["windows"]["init_s"] * 1000
    for step in range(1, STEPS + 1):
        lines.append({"time_ms": train_start + step * per_step, "key": "step", "value": 2 + 6 / step, "rank": 0,
                      "step": step, "samples": step * record["global_batch"],
                      "metadata": {"samples_per_s": rate * rng.uniform(0.97, 1.03), "lr": 5e-4}})
        if step % EVAL_EVERY == 0:
            at = train_start + step * per_step
            lines.append({"time_ms": at + 300, "key": "eval", "value": 0.62 + 0.3 * step / STEPS, "rank": 0,
                          "step": step, "samples": step * record["global_batch"],
                          "metadata": {"eval_s": 0.3, "start_ms": at, "end_ms": at + 300,
                                       "extras": {"token_accuracy": 0.18 + 0.4 * step / STEPS}}})
    lines.append({"time_ms": train_start + train_ms, "key": "run_stop", "value": record["status"], "rank": 0,
                  "metadata": {"exit_code": record["exit_code"]}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def _telemetry(record: dict[str, Any], rng: random.Random) -> str:
    """Ten readings per device over the run, one a tenth of its length apart."""
    start_ms = datetime.fromisoformat(record["started_at"].replace("Z", "+00:00")).timestamp() * 1000
    span_ms = record["windows"]["e2e_s"] * 1000
    watts = record["power"]["mean_w_per_device"]
    rows = [",".join(schema.TELEMETRY_COLUMNS)]
    for tick in range(10):
        for device in range(record["nproc_per_node"]):
            power = f"{watts * rng.uniform(0.9, 1.1):.1f}" if watts else ""
            cells = {"time_ms": f"{start_ms + tick * span_ms / 10:.0f}", "node": str(record["node_rank"]),
                     "device": str(device), "power_w": power, "memory_used_gib": f"{rng.uniform(0.5, 1.2):.3f}",
                     "memory_total_gib": "40.0", "utilization_pct": "95", "temperature_c": "60",
                     "clock_mhz": "1410", "rss_gib": "3.2"}
            rows.append(",".join(cells.get(column, "") for column in schema.TELEMETRY_COLUMNS))
    return "\n".join(rows) + "\n"


def write_folder(folder: Path, chosen: list[Plan]) -> None:
    """The records of ``chosen`` under ``folder`` (a two-node run's second node beside its main record)."""
    for plan in chosen:
        rng = random.Random(plan.index)
        record = summary(plan, rng)
        write_run(folder / record["run_id"], record, rng)
        for rank in range(1, plan.nnodes):
            part = node_part(record, rank)
            write_run(folder / part["run_id"], part, rng)


def ensure_folders(root: Path, sizes: list[int]) -> list[Path]:
    """Folders ``root/v<VERSION>/chunk-<k>`` such that the first ``k`` of them hold ``sizes[k-1]`` runs (sizes
    ascending); each is written once, into a temporary name renamed when complete, and reused after."""
    base = root / f"v{VERSION}"
    every = plans(sizes[-1])
    folders = []
    for number, (low, high) in enumerate(zip([0, *sizes], sizes)):
        folder = base / f"chunk-{number}-{low}-{high}"
        if not folder.is_dir():
            partial = base / f".partial-{folder.name}"
            if partial.exists():
                shutil.rmtree(partial)  # left half-written by an interrupted earlier run
            write_folder(partial, every[low:high])
            partial.rename(folder)
        folders.append(folder)
    return folders


def _digest(index: int) -> str:
    """A config hash as a run records one, a sha256 in hex (version 1 wrote the index padded with zeros, sixteen
    of them in a row: a sign of an out-of-bounds number to the record layer, which then read every summary the slow
    way, as it reads almost no real one)."""
    return hashlib.sha256(f"synthetic config {index}".encode()).hexdigest()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
