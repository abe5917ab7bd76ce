"""Benchmark 5: what sampling the sensors costs. ``benchbase run`` with telemetry at 10 Hz against telemetry off.

Both arms are the real command on the CPM demo (see :mod:`benchmarks.harness_run`), alike in everything but
``telemetry_interval_s``. The core has no switch that turns the sampler off (the parameter's minimum is 0.05 s), so
"off" is an interval of an hour: the sampler takes its one sample at start and then sleeps through the run.
"""

from __future__ import annotations

from benchmarks.harness_run import BUDGET_S, MIN_REPEATS, STEPS, prepare, run_demo
from benchmarks.result import Result
from benchmarks.timing import compare

GOAL = 0.99
SAMPLING_INTERVAL_S = 0.1
#: Longer than any run here: one sample at start, none during training.
OFF_INTERVAL_S = 3600.0


def run(repeats: int = 5, steps: int = STEPS, budget_s: float = BUDGET_S) -> Result:
    """Measure both arms up to ``repeats`` times side by side (at least 3, within ``budget_s`` seconds), each
    training ``steps`` optimizer steps."""
    first = prepare()

    def at(interval_s: float) -> float:
        return run_demo(steps, {"telemetry_interval_s": interval_s}).p_train

    comparison = compare(
        (f"telemetry every {OFF_INTERVAL_S:g} s (off)", lambda: at(OFF_INTERVAL_S)),
        (f"telemetry every {SAMPLING_INTERVAL_S:g} s (10 Hz)", lambda: at(SAMPLING_INTERVAL_S)),
        unit="samples/s",
        repeats=repeats,
        min_repeats=MIN_REPEATS,
        budget_s=budget_s,
    )
    values = first.values
    notes = (
        f"{steps} steps of {values['batch_size'] * values['grad_accum']} samples, CPM demo preset; p_train from "
        "summary.json",
        "'off' is a one-hour interval (one sample at start): the core has no switch to disable the sampler",
    )
    return Result(5, "Telemetry: sampler at 10 Hz vs off", GOAL, comparison, notes)
