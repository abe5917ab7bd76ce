"""Synthetic run records for the report tests, written per docs/records.md into ``tmp_path``.

They stand in for ``benchbase run`` output: every file a real run directory holds (summary.json, config.yaml,
env.json, events.jsonl, telemetry.csv), with curves shaped like a real fine-tuning run (loss decaying, metric rising,
power dropping during evaluations) and numbers consistent with the summary.
"""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

START_MS = 1_795_000_000_000.0
#: Runs written into one folder start a minute apart and last 50 s, so none contends with another (one host).
FIRST_START = datetime(2026, 11, 28, 8, 0, 0, tzinfo=timezone.utc)
RUN_SPAN = timedelta(seconds=50)


def build_summary(run_id: str, **overrides: Any) -> dict[str, Any]:
    """A schema-2 summary of a converged 1x1 CPU run; ``overrides`` are merged (nested dicts merge key by key)."""
    base: dict[str, Any] = {
        "schema": 2,
        "run_id": run_id,
        "case": "cpm",
        "preset": "official",
        "vendor": "cpu",
        "official": True,
        "status": "converged",
        "exit_code": 0,
        "reason": "target 0.91 reached at step 120",
        "started_at": "2026-11-28T08:00:00Z",
        "ended_at": "2026-11-28T08:00:50Z",
        "nnodes": 1,
        "nproc_per_node": 1,
        "world_size": 1,
        "node_rank": 0,
        "main_run_id": None,
        "repeat_group": None,
        "repeat_index": 0,
        "seed": 1234,
        "device_model": "Intel Xeon Gold 6330",
        "sdk": "torch 2.13.0",
        "precision": "FP32",
        "per_device_batch": 16,
        "global_batch": 16,
        "grad_accum": 1,
        "metric_name": "embedding_average",
        "target": 0.91,
        "final_metric": 0.912,
        "final_extras": {"token_accuracy": 0.55},
        "initial_metric": 0.62,
        "initial_extras": {"token_accuracy": 0.18},
        "steps": 120,
        "samples": 1920,
        "converged_step": 120,
        "converged_samples": 1920,
        "windows": {"init_s": 1.2, "train_s": 40.1, "eval_s": 3.2, "core_s": 35.0, "whole_s": 43.3, "e2e_s": 50.0},
        "throughput": {"p_train": 47.9, "p_core": 54.9, "p_whole": 44.3, "fps_e2e": 38.4},
        "time_to_target_s": 43.3,
        "flops_per_sample": 1.2e9,
        "peak_flops_per_device": None,
        "mfu": None,
        "power": {"mean_w_per_device": None, "energy_per_sample_j": None, "source": "unavailable"},
        "memory": {"peak_gib_per_device": 0.8},
        "config_hash": "sha256:" + "0" * 64,
        "device_memory_total_gib": None,
        "host": {"hostname": "bench-01", "cpus": 64, "ranks": 1, "threads": 64, "oversubscribed": False},
        "software": {"benchbase": "0.1.0", "torch": "2.13.0"},
    }
    return _merge(base, overrides)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _times(root: Path, overrides: dict[str, Any]) -> dict[str, str]:
    """``started_at``/``ended_at`` unless given: the n-th run of a folder starts n minutes after the first."""
    if "started_at" in overrides:
        start = datetime.fromisoformat(overrides["started_at"].replace("Z", "+00:00"))
    else:
        start = FIRST_START + timedelta(minutes=sum(1 for _ in root.iterdir()) if root.is_dir() else 0)
    return {"started_at": _stamp(start), "ended_at": _stamp(start + RUN_SPAN)}


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def write_record(
    root: Path, run_id: str, *, events: bool = True, telemetry: bool = True, **overrides: Any
) -> Path:
    """A complete run directory ``root/run_id``; returns its path."""
    summary = build_summary(run_id, **{**_times(root, overrides), **overrides})
    folder = root / run_id
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    config = {"values": {"case": summary["case"], "preset": summary["preset"], "per_device_batch":
                         summary["per_device_batch"]},
              "sources": {}, "official": summary["official"], "config_hash": summary["config_hash"],
              "vendor_file": None}
    (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (folder / "env.json").write_text(json.dumps({"host": "synthetic", "vendor": {"sdk": summary["sdk"]}}),
                                     encoding="utf-8")
    rng = random.Random(run_id)
    timeline = _timeline(summary)
    if events:
        (folder / "events.jsonl").write_text(_events(summary, timeline, rng), encoding="utf-8")
    if telemetry:
        (folder / "telemetry.csv").write_text(_telemetry(summary, timeline, rng), encoding="utf-8")
    return folder


def _timeline(summary: dict[str, Any]) -> dict[str, Any]:
    """When each step and evaluation happened, consistent with the summary's windows."""
    windows = summary["windows"]
    steps = max(1, summary["steps"] or 1)
    every = max(1, steps // 6)
    eval_steps = [0, *range(every, steps + 1, every)]
    eval_ms = (windows["eval_s"] or 0) * 1000 / len(eval_steps)
    step_ms = (windows["train_s"] or 1) * 1000 / steps
    t = START_MS + (windows["init_s"] or 0) * 1000
    train_start = t
    step_times, evals = [], []
    for step in range(steps + 1):
        if step:
            t += step_ms
            step_times.append((step, t))
        if step in eval_steps:
            evals.append((step, t, t + eval_ms))
            t += eval_ms
    return {"train_start": train_start, "train_end": t, "steps": step_times, "evals": evals, "every": every}


def _events(summary: dict[str, Any], timeline: dict[str, Any], rng: random.Random) -> str:
    lines = [{"time_ms": START_MS, "key": "run_start", "value": summary["run_id"], "rank": 0,
              "metadata": {"world_size": summary["world_size"], "case": summary["case"]}}]
    steps = max(1, summary["steps"] or 1)
    p_train = summary["throughput"]["p_train"] or 10.0
    for step, time_ms in timeline["steps"]:
        loss = 2.1 + 6.5 * math.exp(-3 * step / steps) + rng.gauss(0, 0.08)
        lines.append({"time_ms": time_ms, "key": "step", "value": loss, "rank": 0, "step": step,
                      "samples": step * summary["global_batch"],
                      "metadata": {"samples_per_s": p_train * (1 + rng.gauss(0, 0.03)), "lr": 5e-4}})
    initial = summary["initial_metric"] or 0.6
    final = summary["final_metric"] or initial
    for step, start, end in timeline["evals"]:
        progress = (step / steps) ** 0.7
        lines.append({"time_ms": end, "key": "eval", "value": initial + (final - initial) * progress, "rank": 0,
                      "step": step, "samples": step * summary["global_batch"],
                      "metadata": {"eval_s": (end - start) / 1000, "start_ms": start, "end_ms": end,
                                   "extras": {"token_accuracy": 0.18 + (0.55 - 0.18) * progress}}})
    lines.sort(key=lambda event: event["time_ms"])
    lines.append({"time_ms": timeline["train_end"], "key": "windows", "value": summary["windows"], "rank": 0,
                  "metadata": {"train_start_ms": timeline["train_start"], "train_end_ms": timeline["train_end"],
                               "eval_intervals_ms": [[start, end] for _, start, end in timeline["evals"]],
                               "peak_memory_gib": [summary["memory"]["peak_gib_per_device"]]}})
    lines.append({"time_ms": timeline["train_end"] + 500, "key": "run_stop", "value": summary["status"], "rank": 0,
                  "metadata": {"exit_code": summary["exit_code"]}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def _telemetry(summary: dict[str, Any], timeline: dict[str, Any], rng: random.Random) -> str:
    header = ("time_ms,node,device,power_w,energy_j,memory_used_gib,memory_total_gib,utilization_pct,"
              "temperature_c,clock_mhz,rss_gib\n")
    rows = [header]
    end = START_MS + (summary["windows"]["e2e_s"] or 10) * 1000
    watts = summary["power"]["mean_w_per_device"]
    peak = summary["memory"]["peak_gib_per_device"] or 1.0
    t = START_MS
    while t <= end:
        training = timeline["train_start"] <= t <= timeline["train_end"]
        evaluating = any(start <= t <= stop for _, start, stop in timeline["evals"])
        for device in range(summary["nproc_per_node"]):
            if watts is None:
                power = ""
            else:
                level = watts * (0.62 if evaluating else 1.0) if training else watts * 0.35
                power = f"{level + rng.gauss(0, watts * 0.02):.1f}"
            memory = peak * (0.35 + 0.65 * min(1.0, (t - timeline["train_start"]) / 4000)) if training else peak * 0.1
            rows.append(f"{t:.0f},{summary['node_rank']},{device},{power},,{memory:.3f},40.0,"
                        f"{95 if training else 3},{60 + device},1410,3.2\n")
        t += 500
    return "".join(rows)


@pytest.fixture
def write_run() -> Callable[..., Path]:
    """``write_run(root, run_id, events=True, telemetry=True, **summary_overrides) -> run directory``."""
    return write_record


@pytest.fixture
def summary_for() -> Callable[..., dict[str, Any]]:
    """``summary_for(run_id, **overrides) -> summary dict`` (not written anywhere)."""
    return build_summary


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """An empty ``reports/runs``-like folder."""
    folder = tmp_path / "runs"
    folder.mkdir()
    return folder
