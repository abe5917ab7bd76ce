"""Which runs ran at the same time on one host (:func:`benchbase.report.scaling.contention`): each contended run
names the first run, in start order, that overlapped it, exactly as comparing every pair would, without comparing
every pair."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchbase.report.run import Run
from benchbase.report.scaling import contention

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc)


def _run(run_id: str, host: str | None, start_min: float, end_min: float) -> Run:
    stamp = lambda minutes: (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    return Run(path=Path(run_id), values={"run_id": run_id, "hostname": host, "started_at": stamp(start_min),
                                          "ended_at": stamp(end_min)})


def _every_pair(runs: list[Run]) -> dict[str, str]:
    """The definition, pair by pair: the first run by start (ties in the order given) on the same host whose span
    overlaps (touching is not overlapping)."""
    ordered = sorted(runs, key=lambda run: run.started_at)
    found = {}
    for run in ordered:
        for other in ordered:
            if other.run_id != run.run_id and other.hostname == run.hostname and run.started_at < other.ended_at \
                    and other.started_at < run.ended_at:
                found[run.run_id] = other.run_id
                break
    return found


def test_a_long_run_contends_with_every_run_inside_it_and_they_name_it_not_each_other():
    runs = [_run("long", "a", 0, 120), _run("early", "a", 10, 20), _run("late", "a", 60, 70),
            _run("after", "a", 120, 130), _run("other-host", "b", 10, 20)]
    assert contention(runs) == {"long": "early", "early": "long", "late": "long"}


def test_runs_that_only_touch_or_lack_a_host_or_time_contend_with_none():
    runs = [_run("first", "a", 0, 10), _run("second", "a", 10, 20), _run("hostless", None, 5, 15)]
    assert contention(runs) == {}


def test_it_names_the_same_run_as_comparing_every_pair_on_random_folders():
    rng = random.Random(22)
    for _ in range(200):
        runs = []
        for index in range(rng.randint(1, 30)):
            start = rng.randint(0, 100)
            runs.append(_run(f"r{index}", rng.choice("ab"), start, start + rng.choice([0, 1, 5, 20, 60])))
        assert contention(runs) == _every_pair(runs)
