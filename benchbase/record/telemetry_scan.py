"""One pass over a record's telemetry rows, keeping only what the summary's figures need (docs/records.md).

A 4-hour official run on 8 devices at 10 Hz writes 1.15 M rows; held as dicts they took gigabytes. The summary's
figures need far less of them: a running sum and count of each device's power inside the steady spans, the highest
memory readings, the row count, and, for the two figures that depend on the rows' order in time (the sampler's
longest gap and the energy counter's advance), each device's time stamps and counter readings as packed arrays of
doubles, 8 bytes a reading (sorted once at the end: a sort of rows already in order is linear). A row is read,
added in and dropped.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchbase.record.spans import Spans

Device = tuple[int, int]


@dataclass
class DeviceTelemetry:
    """What one ``(node, device)`` contributes: every row's stamp, its counter readings, its steady power."""

    stamps: array = field(default_factory=lambda: array("d"))
    counter_times: array = field(default_factory=lambda: array("d"))
    counter_values: array = field(default_factory=lambda: array("d"))
    #: Power readings inside the steady spans: their sum, in file order, and their number.
    steady_power_sum: float = 0.0
    steady_power_count: int = 0

    def counter_readings(self) -> tuple[Sequence[float], Sequence[float]]:
        """The energy counter's times and values, sorted by time (then value, for equal stamps); the arrays as they
        are where the sampler wrote them in order, which it does."""
        times, values = self.counter_times, self.counter_values
        if all(earlier < later for earlier, later in zip(times, times[1:])):
            return times, values
        pairs = sorted(zip(times, values))
        return array("d", (time for time, _ in pairs)), array("d", (value for _, value in pairs))


@dataclass
class TelemetryScan:
    """The accumulated telemetry of a record, of one node or several."""

    #: Each device, in the order of its first row.
    devices: dict[Device, DeviceTelemetry] = field(default_factory=dict)
    #: The devices with a power reading inside the steady spans, in the order of the first such reading.
    steady_power_devices: list[Device] = field(default_factory=list)
    rows: int = 0
    #: Whether any row, inside the spans or not, had a power reading.
    any_power: bool = False
    memory_used_max: float | None = None
    memory_total_max: float | None = None

    def add(self, row: Mapping[str, Any], steady: Spans) -> None:
        """Adds one row (a :func:`benchbase.record.telemetry_file.read_telemetry` row); ``steady`` are the spans
        power is averaged over."""
        key = (row["node"], row["device"])
        device = self.devices.get(key)
        if device is None:
            device = self.devices[key] = DeviceTelemetry()
        time_ms = row["time_ms"]
        self.rows += 1
        device.stamps.append(time_ms)
        energy = row.get("energy_j")
        if energy is not None:
            device.counter_times.append(time_ms)
            device.counter_values.append(energy)
        power = row["power_w"]
        if power is not None:
            self.any_power = True
            if steady.contains(time_ms):
                if not device.steady_power_count:
                    self.steady_power_devices.append(key)
                device.steady_power_sum += power
                device.steady_power_count += 1
        used, total = row["memory_used_gib"], row["memory_total_gib"]
        if used is not None and (self.memory_used_max is None or used > self.memory_used_max):
            self.memory_used_max = used
        if total is not None and (self.memory_total_max is None or total > self.memory_total_max):
            self.memory_total_max = total


def scan_telemetry(rows: Iterable[Mapping[str, Any]], steady: Spans) -> TelemetryScan:
    """:class:`TelemetryScan` of ``rows``, read once, in order."""
    scan = TelemetryScan()
    for row in rows:
        scan.add(row, steady)
    return scan


class CounterReadings(Mapping[Device, tuple[Sequence[float], Sequence[float]]]):
    """Each device's sorted counter readings (:meth:`DeviceTelemetry.counter_readings`), sorted when asked for, one
    device at a time, in the order of the devices' first rows."""

    def __init__(self, scan: TelemetryScan) -> None:
        self._devices = scan.devices

    def __getitem__(self, key: Device) -> tuple[Sequence[float], Sequence[float]]:
        return self._devices[key].counter_readings()

    def __iter__(self) -> Iterator[Device]:
        return iter(self._devices)

    def __len__(self) -> int:
        return len(self._devices)
