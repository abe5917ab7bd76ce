"""The soak's verdict (``benchmarks/soak.py``) read from a run record: flat memory and a steady telemetry rate pass,
a leak or dropped rows fail, and a run too short to judge is refused.

The 20-minute run itself is ``make soak``; here a real record of a short run gets a long telemetry file written with
the real writer, so the reading and the arithmetic are tested in seconds.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from benchbase.contract import SensorReading
from benchbase.record.events import read_events
from benchbase.record.telemetry_file import TelemetryWriter
from benchmarks.soak import analyse, figures_of

RssAt = Callable[[float], float]


def soak_record(finished_run: Path, tmp_path: Path, minutes: float, rss_at: RssAt, every_s: float = 1.0) -> Path:
    """A copy of a real run whose telemetry spans ``minutes`` from its first step, one row every ``every_s``."""
    run = Path(shutil.copytree(finished_run, tmp_path / finished_run.name))
    first_step_ms = next(e for e in read_events(run / "events.jsonl") if e["key"] == "step")["time_ms"]
    (run / "telemetry.csv").unlink()
    with TelemetryWriter(run / "telemetry.csv", node=0) as writer:
        t = 0.0
        while t <= minutes * 60:
            writer.write([SensorReading(device=0)], rss_at(t), first_step_ms + t * 1000)
            t += every_s
    return run


def flat_with_eval_spikes(t: float) -> float:
    return 0.6 + (0.08 if int(t) % 40 < 2 else 0.0)


def test_flat_memory_at_the_set_rate_passes(finished_run: Path, tmp_path: Path) -> None:
    figures = figures_of(soak_record(finished_run, tmp_path, 5, flat_with_eval_spikes))
    assert figures.passed
    assert abs(figures.rss_growth_pct) < 0.01 and figures.peak_rss_gib == pytest.approx(0.68)
    assert figures.rows_per_s == pytest.approx(1.0, rel=1e-6) and figures.max_gap_s == pytest.approx(1.0)


def test_memory_growing_after_warm_up_fails(finished_run: Path, tmp_path: Path) -> None:
    figures = figures_of(soak_record(finished_run, tmp_path, 5, lambda t: 0.6 * (1 + 0.1 * t / 300)))
    assert not figures.memory_ok and not figures.passed
    assert 5 < figures.rss_growth_pct < 10


def test_growth_during_warm_up_alone_passes(finished_run: Path, tmp_path: Path) -> None:
    """Building the model and the first evaluations take memory once; only growth after that counts."""
    figures = figures_of(soak_record(finished_run, tmp_path, 5, lambda t: 0.3 + 0.3 * min(t / 50, 1.0)))
    assert figures.memory_ok


def test_a_sampler_that_falls_behind_fails_the_rate(finished_run: Path, tmp_path: Path) -> None:
    figures = figures_of(soak_record(finished_run, tmp_path, 5, flat_with_eval_spikes, every_s=1.25))
    assert figures.memory_ok and not figures.rate_ok
    assert figures.rate_error_pct == pytest.approx(-20, abs=0.5)


def test_a_run_too_short_for_warm_up_and_two_windows_is_not_judged() -> None:
    rows = [{"node": 0, "device": 0, "time_ms": t * 1000.0, "rss_gib": 0.6} for t in range(150)]
    with pytest.raises(ValueError, match="too short"):
        analyse(rows, 1.0, 0.0)
