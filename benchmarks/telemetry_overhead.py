"""Benchmark 5: what sampling the sensors costs. ``benchbase run`` with telemetry at 10 Hz against telemetry off.

Both arms are the real command on the CPM demo (see :mod:`benchmarks.harness_run`), alike in everything but
``telemetry_interval_s``: 0.1 s against 0, which starts no sampler thread at all.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.harness_run import BUDGET_S, MIN_PAIRS, PAIRS, STEPS, prepare, run_demo
from benchmarks.result import Result
from benchmarks.timing import compare

GOAL = 0.99
SAMPLING_INTERVAL_S = 0.1
#: The core's "off": no sampler thread, no rows.
OFF_INTERVAL_S = 0.0


def run(pairs: int = PAIRS, steps: int = STEPS, budget_s: float = BUDGET_S, min_pairs: int = MIN_PAIRS) -> Result:
    """Measure both arms in up to ``pairs`` pairs (at least ``min_pairs``, within ``budget_s`` seconds), each
    training ``steps`` optimizer steps."""
    first = prepare()
    sampled: list[dict[str, Any]] = []

    def at(interval_s: float) -> float:
        run = run_demo(steps, {"telemetry_interval_s": interval_s})
        if interval_s:
            sampled.append(run.telemetry)
        return run.p_train

    comparison = compare(
        ("telemetry off", lambda: at(OFF_INTERVAL_S)),
        (f"telemetry every {SAMPLING_INTERVAL_S:g} s (10 Hz)", lambda: at(SAMPLING_INTERVAL_S)),
        unit="samples/s",
        repeats=pairs,
        min_repeats=min_pairs,
        budget_s=budget_s,
    )
    values = first.values
    notes = (
        f"{steps} steps of {values['batch_size'] * values['grad_accum']} samples, CPM demo preset; p_train from "
        "summary.json; 'off' is telemetry_interval_s 0 (no sampler thread)",
        sampler_line(sampled),
    )
    return Result(5, "Telemetry: sampler at 10 Hz vs off", GOAL, comparison, notes)


def sampler_line(telemetry: list[dict[str, Any]]) -> str:
    """The sampler's own CPU in the 10 Hz runs, from each record's ``telemetry`` object: what one sample costs the
    host's cores, the figure that bounds this ratio where training fills every core."""
    per_sample = [t["sampler_cpu_per_sample_ms"] for t in telemetry if t.get("sampler_cpu_per_sample_ms") is not None]
    per_run = [t["sampler_cpu_s"] for t in telemetry if t.get("sampler_cpu_s") is not None]
    if not per_sample:
        return "sampler's own CPU: not recorded"
    ms = statistics.median(per_sample)
    return (f"sampler's own CPU at 10 Hz (summary telemetry.sampler_cpu_per_sample_ms, median of {len(per_sample)} "
            f"runs, range {min(per_sample):.3f} .. {max(per_sample):.3f}): {ms:.3f} ms a sample, "
            f"{statistics.median(per_run):.2f} s a run, {ms * 10 / 1000:.2%} of one core")
