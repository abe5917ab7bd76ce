"""Host telemetry for CPU training: one row, device 0, standing for the whole host.

Memory used is the run's own: the resident set of its largest rank, or its new peak when it reached one since the
previous reading (:class:`benchbase.run.telemetry.RankMemory`), the quantity whose peak the report prints, so the memory
plot and the table agree; the host's used memory would count the OS and every other job. Utilisation is the host's
(psutil): CPU time is not split by process here.
Power is package power from RAPL (energy difference over time difference between two reads), or ``None``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from benchbase.contract import SensorReading, Sensors
from benchbase.kit import RankMemory
from benchbase_cpu.rapl import RaplCounter

_GIB = float(2**30)

#: hwmon drivers that report the CPU package itself, in order of preference (Intel, AMD, AMD out-of-tree, ARM SoCs).
_CPU_THERMAL_CHIPS = ("coretemp", "k10temp", "zenpower", "cpu_thermal")


def cpu_temperature_c() -> float | None:
    """Hottest reading of the CPU's own thermal driver; ``None`` when the host exposes none (VMs, containers)."""
    read = getattr(psutil, "sensors_temperatures", None)
    if read is None:
        return None
    try:
        chips = read()
    except OSError:
        return None
    for chip in _CPU_THERMAL_CHIPS:
        values = [entry.current for entry in chips.get(chip, []) if entry.current is not None]
        if values:
            return float(max(values))
    return None


def cpu_clock_mhz() -> float | None:
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError):
        return None
    return float(freq.current) if freq is not None and freq.current else None


class CPUSensors(Sensors):
    """Opened once per run; ``clock`` and ``ranks`` are injectable so a test can drive the RAPL power computation and
    the memory reading."""

    def __init__(
        self, sysfs_root: Path, clock: Callable[[], float] = time.monotonic, ranks: RankMemory | None = None
    ) -> None:
        self._clock = clock
        # Opened by the supervisor, whose descendants are the run's ranks.
        self._ranks = ranks if ranks is not None else RankMemory(os.getpid())
        self._rapl = RaplCounter(sysfs_root)
        self._last_time = clock()
        self._last_energy = 0.0
        psutil.cpu_percent(interval=None)  # the first call only starts psutil's interval; its value is meaningless
        # psutil finds the thermal drivers anew at every call (a walk over /sys/class/hwmon: 0.08 ms of a
        # sample's 0.43 ms on the test VM); a host without a CPU thermal driver at the start has none during the run.
        self._has_temperature = cpu_temperature_c() is not None
        # The host's memory does not change while it runs; psutil would parse /proc/meminfo for it at every read.
        self._memory_total_gib = psutil.virtual_memory().total / _GIB

    def _power(self, energy: float | None) -> float | None:
        now = self._clock()
        elapsed = now - self._last_time
        if energy is None or elapsed <= 0:
            return None
        power = (energy - self._last_energy) / elapsed
        self._last_time, self._last_energy = now, energy
        return power

    def read(self) -> list[SensorReading]:
        energy = self._rapl.energy_j()
        return [
            SensorReading(
                device=0,
                power_w=self._power(energy),
                energy_j=energy,
                memory_used_gib=self._ranks.largest_gib(),
                memory_total_gib=self._memory_total_gib,
                utilization_pct=psutil.cpu_percent(interval=None),
                temperature_c=cpu_temperature_c() if self._has_temperature else None,
                clock_mhz=cpu_clock_mhz(),
            )
        ]
