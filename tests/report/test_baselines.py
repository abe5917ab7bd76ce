"""The 1x1 runs a Scalability ratio rests on (:mod:`benchbase.report.baselines`): sorted once per workload, each
(host, software) gets the same runs and the same reasons, in the same order, as walking every 1x1 run would give."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from benchbase.record.schema import CONVERGED, FAILED, NOT_CONVERGED
from benchbase.report.baselines import WorkloadBaselines
from benchbase.report.run import Run

SOFTWARE = ((("torch", "2.13.0"),), (("torch", "2.12.1"),))


def _walk(candidates, why_unfit, host, software):
    """The definition, one run at a time in start order."""
    rejected: Counter[str] = Counter()
    fit = []
    for run in candidates:
        reason = why_unfit(run)
        if not run.completed or run.p_train is None:
            rejected["not completed" if not run.completed else "without throughput"] += 1
        elif reason is not None:
            rejected[reason.split(":")[0]] += 1
        elif run.hostname != host:
            rejected["on another host"] += 1
        elif run.software != software:
            rejected["with other software"] += 1
        else:
            fit.append(run)
    converged = [run for run in fit if run.status == CONVERGED]
    return converged or fit, rejected


def _random_runs(rng: random.Random) -> list[Run]:
    return [Run(path=Path(f"r{index}"), values={
        "run_id": f"r{index}", "hostname": rng.choice("abc"), "software": rng.choice(SOFTWARE),
        "status": rng.choice((CONVERGED, CONVERGED, NOT_CONVERGED, FAILED)),
        "p_train": rng.choice((None, 40.0, 42.5, 47.0)), "crowded": rng.random() < 0.2,
    }) for index in range(rng.randint(0, 25))]


def test_every_host_and_software_gets_what_walking_every_one_device_run_gives():
    rng = random.Random(22)
    why_unfit = lambda run: "oversubscribed: 4 threads on 2 CPUs" if run.crowded else None  # noqa: E731
    for _ in range(300):
        runs = _random_runs(rng)
        baselines = WorkloadBaselines(runs, why_unfit)
        for host in "abcd":
            for software in SOFTWARE:
                expected_runs, expected_rejected = _walk(runs, why_unfit, host, software)
                found = baselines.for_host(host, software)
                assert list(found.runs) == expected_runs
                assert list(found.rejected.items()) == list(expected_rejected.items()), "same counts, same order"
                rates = [run.p_train for run in expected_runs]
                assert (found.low, found.high) == ((min(rates), max(rates)) if rates else (None, None))
