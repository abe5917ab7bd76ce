"""Benchmark 1: what the harness costs. ``benchbase run`` (telemetry on, events on) against a bare PyTorch loop.

Candidate: the real command on the CPM demo, ``p_train`` from its ``summary.json`` (samples over the train window,
evaluation excluded), with telemetry and step events at their defaults. Baseline: :mod:`benchmarks.bare_loop` in its
own process, training the same steps of the same model on the same windows in the same order. A ratio of 1 means the
harness is free; the issue asks for at least 0.98.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from benchbase.errors import BenchbaseError
from benchmarks.harness_run import BUDGET_S, MIN_PAIRS, PAIRS, STEPS, prepare, run_demo
from benchmarks.result import Result
from benchmarks.timing import compare

GOAL = 0.98
#: The repository root, from where ``python -m benchmarks.bare_loop`` finds this package.
REPO = Path(__file__).resolve().parents[1]


class Trained(Protocol):
    """What a measured run trained: its resolved config and its prepared-data facts."""

    values: dict[str, Any]
    prepared: dict[str, Any]


def bare_loop(run: Trained, steps: int, **options: Any) -> dict[str, Any]:
    """Run :mod:`benchmarks.bare_loop` in a fresh Python, as the worker is, for ``steps`` of what ``run`` trained;
    ``options`` are the loop's other spec keys (``device``, ``warm_steps``, ``count_syncs``)."""
    spec = json.dumps({"values": run.values, "prepared": run.prepared, "steps": steps, **options})
    finished = subprocess.run([sys.executable, "-m", "benchmarks.bare_loop"], input=spec, capture_output=True,
                              text=True, check=False, cwd=REPO)
    if finished.returncode != 0:
        last = (finished.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchbaseError(f"the bare loop failed: {last}",
                             "run python -m benchmarks.bare_loop by hand to see the failure")
    return json.loads(finished.stdout)


def run(pairs: int = PAIRS, steps: int = STEPS, budget_s: float = BUDGET_S, min_pairs: int = MIN_PAIRS) -> Result:
    """Measure both arms in up to ``pairs`` pairs (at least ``min_pairs``, within ``budget_s`` seconds), each
    training ``steps`` optimizer steps."""
    first = prepare()
    # p_train leaves the run's warm-up steps out; so does the bare loop's clock, or its one-time costs would count.
    warm_steps = int(first.values["warmup_steps"])
    threads: list[float] = []

    def baseline() -> float:
        figures = bare_loop(first, steps, warm_steps=warm_steps)
        threads.append(figures["threads"])
        return figures["samples_per_s"]

    comparison = compare(("bare PyTorch loop", baseline), ("benchbase run", lambda: run_demo(steps).p_train),
                         unit="samples/s", repeats=pairs, min_repeats=min_pairs, budget_s=budget_s)
    values = first.values
    notes = (
        f"{steps} steps of {values['batch_size'] * values['grad_accum']} samples, CPM demo preset "
        f"({values['model_size']} model), the first {warm_steps} (the run's warm-up) untimed in both arms; both arms "
        f"use {int(threads[0])} torch threads",
        f"benchbase run: telemetry every {values['telemetry_interval_s']} s, a step event every "
        f"{values['log_interval']} steps; p_train from summary.json (eval excluded)",
    )
    return Result(1, "Harness overhead: benchbase run vs a bare PyTorch loop", GOAL, comparison, notes)
