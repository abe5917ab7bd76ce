"""The sampler measures its own CPU time: the real sampler thread, with a sensor whose every read costs a known
amount of CPU, writes its cumulative thread CPU time into cpu_load.csv, and the summary's figure rests on it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from benchbase.contract import SensorReading, Sensors
from benchbase.record import schema
from benchbase.record.cpu_load_file import read_sampler_cpu
from benchbase.record.power import sampler_cost
from benchbase.run.telemetry import Sampler

#: CPU each read burns on the sampler's thread.
READ_CPU_S = 0.005


class Busy(Sensors):
    def read(self) -> list[SensorReading]:
        start = time.thread_time()
        while time.thread_time() - start < READ_CPU_S:
            pass
        return [SensorReading(device=0)]


def test_each_row_holds_the_sampler_threads_cpu_so_far_and_every_read_is_in_it(tmp_path: Path) -> None:
    sampler = Sampler(tmp_path / schema.TELEMETRY_FILE, 0, Busy(), 0.05, [0], root_pid=os.getpid())
    sampler.begin()
    time.sleep(0.6)
    sampler.stop()
    counters = read_sampler_cpu(tmp_path / schema.CPU_LOAD_FILE)
    assert len(counters) >= 3
    assert counters == sorted(counters)
    # Row k follows k reads on that thread; the test's own thread, which only slept, is not in it.
    assert all(counter >= READ_CPU_S * k for k, counter in enumerate(counters, 1))
    assert sampler_cost(counters) == counters[-1]


def test_a_counter_that_starts_again_is_a_new_sampler_whose_cost_adds_up() -> None:
    assert sampler_cost([0.1, 0.2, 0.3, 0.01, 0.05]) == pytest.approx(0.35)
    assert sampler_cost([]) is None
