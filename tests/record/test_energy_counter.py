"""Energy from a device's own cumulative counter (NVML's ``nvmlDeviceGetTotalEnergyConsumption``), as telemetry.csv
records it and :func:`benchbase.record.telemetry_file.counter_energy_j` reads it back.

The rows are written by the real :class:`TelemetryWriter` and read by the real :func:`read_telemetry`; the readings
are scripted as a board drawing a constant known power would count them (the NVML path into these rows is tested in
``test_nvidia_vendor.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchbase.contract import SensorReading
from benchbase.record.telemetry_file import TelemetryWriter, counter_energy_j, read_telemetry


def rows_for(
    tmp_path: Path, watts: dict[int, float | None], seconds: int = 11, origin_j: float = 5e6
) -> list[dict[str, Any]]:
    """One row a second per device for ``seconds`` s; device ``d``'s counter rises ``watts[d]`` J/s from
    ``origin_j`` (``None``: no counter, as ixml and ixsmi)."""
    path = tmp_path / "telemetry.csv"
    with TelemetryWriter(path, node=0) as writer:
        for second in range(seconds):
            readings = [
                SensorReading(device=d, power_w=w, energy_j=None if w is None else origin_j + w * second)
                for d, w in watts.items()
            ]
            writer.write(readings, rss_gib=None, time_ms=second * 1000.0)
    return read_telemetry(path)


def test_counter_energy_is_interpolated_to_the_window_and_excludes_evaluations(tmp_path: Path) -> None:
    rows = rows_for(tmp_path, {0: 300.0, 1: 100.0})
    energy = counter_energy_j(rows, 1500.0, 8500.0, [[4000.0, 5000.0]])
    assert energy == {(0, 0): pytest.approx(6.0 * 300.0), (0, 1): pytest.approx(6.0 * 100.0)}  # 7 s window - 1 s eval
    overlapping = counter_energy_j(rows, 1500.0, 8500.0, [[4000.0, 5000.0], [4500.0, 6000.0], [0.0, 2000.0]])
    assert overlapping[(0, 0)] == pytest.approx((7.0 - 2.0 - 0.5) * 300.0)  # merged, and clipped to the window


def test_a_device_without_a_counter_means_no_counter_energy_for_any(tmp_path: Path) -> None:
    assert counter_energy_j(rows_for(tmp_path, {0: 300.0, 1: None}), 1000.0, 5000.0) is None


def test_a_counter_that_does_not_cover_the_window_or_goes_backwards_is_not_used(tmp_path: Path) -> None:
    rows = rows_for(tmp_path, {0: 300.0})
    assert counter_energy_j(rows, 1000.0, 10_500.0) is None  # the last reading is at 10 s
    assert counter_energy_j([r for r in rows if r["time_ms"] > 2000.0], 1000.0, 5000.0) is None
    reset = [dict(r, energy_j=r["energy_j"] - 5e6 if r["time_ms"] >= 3000.0 else r["energy_j"]) for r in rows]
    assert counter_energy_j(reset, 1000.0, 5000.0) is None  # a driver reload restarted the counter
    assert counter_energy_j(rows, 5000.0, 5000.0) is None and counter_energy_j([], 0.0, 1.0) is None


def test_nodes_are_kept_apart(tmp_path: Path) -> None:
    first = rows_for(tmp_path, {0: 300.0})
    second = [dict(row, node=1, energy_j=row["energy_j"] * 2) for row in first]
    energy = counter_energy_j(first + second, 0.0, 10_000.0)
    assert energy == {(0, 0): pytest.approx(3000.0), (1, 0): pytest.approx(2 * (5e6 + 3000.0) - 2 * 5e6)}
