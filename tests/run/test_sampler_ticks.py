"""The telemetry sampler keeps its grid of ticks: a read that overran some skips them instead of catching up.

The sensor is a stand-in whose first read takes a second (the issue's vendor tool imported torch on its first call),
then reads at once; the rows are written by the real sampler thread into a real telemetry.csv.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchbase.contract import SensorReading, Sensors
from benchbase.record.telemetry_file import read_telemetry
from benchbase.run.telemetry import Sampler, _next_tick


class StallsOnce(Sensors):
    def __init__(self) -> None:
        self.reads = 0

    def read(self) -> list[SensorReading]:
        self.reads += 1
        if self.reads == 1:
            time.sleep(1.0)
        return [SensorReading(device=0, power_w=100.0)]


def test_the_ticks_a_slow_read_overran_are_skipped_not_sampled_back_to_back(tmp_path: Path) -> None:
    sampler = Sampler(tmp_path / "telemetry.csv", 0, StallsOnce(), 0.1, [0])
    sampler.begin()
    time.sleep(1.6)
    sampler.stop()
    times = [row["time_ms"] for row in read_telemetry(tmp_path / "telemetry.csv")]
    # Catching up would have written about ten rows within milliseconds of the stalled one.
    assert len(times) >= 3
    assert all(later - earlier > 20.0 for earlier, later in zip(times, times[1:]))


def test_the_next_tick_stays_on_the_grid() -> None:
    assert _next_tick(10.0, 0.5, now=10.2) == 10.5  # on time: the next tick
    assert _next_tick(10.0, 0.5, now=12.3) == 12.5  # four ticks overrun: the first one still ahead
    assert _next_tick(10.0, 0.5, now=12.5) == 12.5
