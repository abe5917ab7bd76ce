"""The summary's ``power`` and ``telemetry`` objects: power and energy per physical device over the steady spans of
training, and how well the sampler kept its rate (docs/records.md, "power" and "telemetry").

A power figure is only as good as the samples under it: a sensor that took seconds per read gave a 1 Hz
configuration four samples for its mean and nothing said so. So the summary states how many samples each figure
rests on and the rate the sampler achieved, and marks a figure that rests on too few
(:data:`MIN_POWER_SAMPLES`, :data:`MIN_RATE_SHARE`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchbase.record import spans as counted
from benchbase.record.spans import Spans
from benchbase.record.telemetry_file import counter_readings_energy_j
from benchbase.record.telemetry_scan import CounterReadings, TelemetryScan

#: A device's mean power from fewer samples than this is marked ``too_few_samples``: power moves with every step,
#: evaluation and clock change, and the mean of a handful of readings is one reading's noise away from another
#: figure (the issue's sensor gave four samples in a run whose 1 Hz configuration promised a hundred).
MIN_POWER_SAMPLES = 10
#: A sampler that achieved less than this share of its configured rate was stalled by its sensor: each reading is
#: stamped when a slow read returns, seconds after the moment it describes, so cutting evaluations out by time
#: misplaces readings, and the mean is marked ``too_few_samples`` however long the run was.
MIN_RATE_SHARE = 0.5


def power_summary(
    scan: TelemetryScan,
    window_meta: Mapping[str, Any],
    devices: int | None,
    samples: int | None,
    achieved_hz: float | None,
    interval_s: float | None,
) -> dict[str, Any]:
    """Mean over telemetry devices of each device's mean power over the steady spans (:func:`counted.steady`), and
    the energy per steady sample that implies for ``devices`` physical devices.

    ``samples`` are the steady samples (trained outside the warm-ups). The energy is the devices' own counter where
    every device has one over every span (NVML's total energy), else mean power x the spans' seconds. ``scan`` holds
    the telemetry accumulated over the same steady spans (:func:`benchbase.record.telemetry_scan.scan_telemetry`).
    """
    unavailable = {"mean_w_per_device": None, "energy_per_sample_j": None, "source": "unavailable",
                   "energy_source": None, "samples_per_device": None, "too_few_samples": None}
    steady = counted.steady(window_meta)
    if not steady:
        return unavailable
    if not scan.steady_power_devices:
        if scan.any_power:
            # The sensor reads power, but no reading fell inside the steady spans (a sensor slower than a short run):
            # no figure, and not "no sensor" either.
            return {**unavailable, "source": "telemetry", "samples_per_device": 0, "too_few_samples": True}
        return unavailable
    counts = [scan.devices[key].steady_power_count for key in scan.steady_power_devices]
    means = [scan.devices[key].steady_power_sum / count for key, count in zip(scan.steady_power_devices, counts)]
    mean_w = sum(means) / len(means)
    fewest = min(counts)
    stalled = achieved_hz is not None and interval_s is not None and interval_s > 0 and (
        achieved_hz < MIN_RATE_SHARE / interval_s
    )
    energy, energy_source = _energy_per_sample(scan, steady, mean_w, devices or len(means), samples)
    return {"mean_w_per_device": mean_w, "energy_per_sample_j": energy, "source": "telemetry",
            "energy_source": energy_source, "samples_per_device": fewest,
            "too_few_samples": fewest < MIN_POWER_SAMPLES or stalled}


def _energy_per_sample(
    scan: TelemetryScan, steady: Spans, mean_w: float, devices: int, samples: int | None
) -> tuple[float | None, str | None]:
    if not samples:
        return None, None
    energies = counter_readings_energy_j(CounterReadings(scan), steady)
    if energies:
        return sum(energies.values()) / len(energies) * devices / samples, "counter"
    return mean_w * devices * steady.seconds() / samples, "mean_power"


def telemetry_summary(
    scan: TelemetryScan,
    window_meta: Mapping[str, Any],
    interval_s: float | None,
    sampler_cpu: Sequence[float] = (),
) -> dict[str, Any]:
    """What the sampler achieved: the configured interval, the lowest rate any device was sampled at over the
    attempts (its rows inside them over their seconds), the longest time any device went without a row there (a
    slow sensor read shows as a gap of its duration), the record's telemetry rows, and what sampling cost the host
    (:func:`sampler_cost`, from ``sampler_cpu``, the ``sampler_cpu_s`` column of ``cpu_load.csv``).

    A record without attempts (a run that died before training ended) is measured over each device's own first to
    last row.
    """
    attempts = counted.attempts(window_meta)
    rates, gaps = [], []
    for device in scan.devices.values():
        stamps = sorted(device.stamps)
        windows = attempts or Spans([(stamps[0], stamps[-1])])
        inside = [time for time in stamps if windows.contains(time)]
        if windows.seconds() > 0:
            rates.append(len(inside) / windows.seconds())
        gaps.append(_longest_gap_s(inside, windows))
    cpu_s = sampler_cost(sampler_cpu)
    return {
        "interval_s": interval_s,
        "achieved_hz": min(rates) if rates else None,
        "longest_gap_s": max(gaps) if gaps else None,
        "rows": scan.rows,
        "sampler_cpu_s": cpu_s,
        "sampler_cpu_per_sample_ms": cpu_s * 1000 / len(sampler_cpu) if cpu_s is not None else None,
    }


def sampler_cost(counters: Sequence[float]) -> float | None:
    """The sampler thread's CPU seconds over the whole record, from its cumulative counter at each sample.

    Sampling runs on the host's cores beside training, so its cost is part of what a run measured; the counter
    lets a reader weigh it. Each attempt of a resumed run has a sampler of its own, whose counter starts again near
    zero: a counter lower than the one before it begins a new sampler, and the record's cost is the sum of each
    sampler's last reading. ``None`` without readings (telemetry off, a record older than the column).
    """
    if not counters:
        return None
    total = 0.0
    for previous, current in zip(counters, counters[1:]):
        if current < previous:
            total += previous
    return total + counters[-1]


def _longest_gap_s(stamps: Sequence[float], windows: Spans) -> float:
    """The longest stretch of ``windows`` without a stamp, its ends included (a window with no row at all is one
    gap as long as itself)."""
    longest = 0.0
    for begin, end in windows:
        marks = [begin, *(time for time in stamps if begin <= time <= end), end]
        longest = max(longest, *(later - earlier for earlier, later in zip(marks, marks[1:])))
    return longest / 1000
