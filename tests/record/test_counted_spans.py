"""Power, energy, host contention and the sampler's rate over the spans a figure counts (docs/records.md, "Which time
counts"), checked on a doctored trace of a resumed run whose every file is written here by hand.

The run (wall-clock seconds, one device, the sampler at 2 Hz):

* attempt 1 warms up from 0 to 2 s (200 W), trains steadily to its checkpoint at 10 s (100 W), goes on to redo-able
  steps at 300 W and dies at 20 s;
* nothing runs from 20 s to 40 s (no telemetry: its supervisor is gone), while another job takes three of the
  host's four CPUs, and the board idles at 50 W, which its energy counter counts;
* attempt 2 resumes from the checkpoint at 40 s, warms up to 42 s (200 W), trains at 100 W with an evaluation from
  45 s to 46 s (30 W) and ends at 50 s.

Counted: [2, 10] + [42, 45] + [46, 50] s = 15 s at 100 W for 200 - 50 warm-up samples: 100 W and 10.0 J per sample.
From the first attempt's start to the last one's end (what the summary used before attempts were recorded) the mean
would take in the warm-ups and the redone steps (174 W), the energy counter the idle gap too (31.5 J per sample), and
the host the other job's work in the gap (a share of 0.315, contended, where the attempts saw 0.025).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from benchbase.record import schema
from benchbase.record.power import MIN_POWER_SAMPLES, MIN_RATE_SHARE
from benchbase.record.rundir import RunDir, validate_summary
from benchbase.record.summary import CONTENDED_SHARE, build_summary

BASE = {
    "run_id": "20261207-060000-cpm-acme-1x1-abcdef",
    "case": "cpm",
    "vendor": "acme",
    "official": False,
    "status": "converged",
    "nnodes": 1,
    "nproc_per_node": 1,
    "world_size": 1,
    "peak_flops_per_device": 1e12,
    "e2e_s": 60.0,
}
HOST_CPUS = 4
SAMPLED_MS = [*range(0, 20_001, 500), *range(40_000, 50_001, 500)]


def power_at(ms: int) -> float:
    """The board's draw at ``ms``; an instant on a boundary reads the steady 100 W, whichever side claims it."""
    if 0 < ms < 2_000 or 40_000 < ms < 42_000:
        return 200.0  # warm-up
    if 10_000 < ms < 20_000:
        return 300.0  # steps attempt 2 redoes
    if 20_000 <= ms < 40_000:
        return 50.0  # idle between the attempts
    if 45_000 < ms < 46_000:
        return 30.0  # evaluation
    return 100.0


def energy_at(ms: int) -> float:
    """The board's cumulative counter (J), the integral of :func:`power_at`, from an arbitrary origin."""
    return 1e6 + sum(power_at(t + 250) for t in range(0, ms, 500)) * 0.5  # constant over each half second


def others_per_s(ms: float) -> float:
    """CPU seconds per second that processes outside the run take: little while it trains, three CPUs in the gap."""
    return 3.0 if 20_000 <= ms < 40_000 else 0.1


def cumulative(rate: Callable[[float], float], ms: int) -> float:
    return sum(rate(t) for t in range(0, ms, 100)) / 10.0


def sampler_cpu_at(ms: int) -> float:
    """The sampler thread's own CPU seconds at ``ms``: 1 ms a sample in attempt 1, 2 ms in attempt 2, whose new
    sampler counts from zero again."""
    if ms < 40_000:
        return (ms // 500 + 1) * 0.001
    return ((ms - 40_000) // 500 + 1) * 0.002


def write_record(
    tmp_path: Path, with_counter: bool = True, attempts: bool = True, sampler_column: bool = True
) -> RunDir:
    run_dir = RunDir.create(tmp_path, BASE["run_id"])
    header = ",".join(schema.TELEMETRY_COLUMNS)
    rows = [
        f"{ms}.0,0,0,{power_at(ms)},{energy_at(ms) if with_counter else ''},1.0,80.0,,,,2.0" for ms in SAMPLED_MS
    ]
    run_dir.telemetry_path.write_text(header + "\n" + "\n".join(rows) + "\n")
    loads = [
        f"{ms}.0,{cumulative(others_per_s, ms) + ms / 1000.0},{ms / 1000.0}"  # the run itself: one CPU, always busy
        + (f",{sampler_cpu_at(ms)}" if sampler_column else "")
        for ms in SAMPLED_MS
    ]
    columns = schema.CPU_LOAD_COLUMNS if sampler_column else schema.CPU_LOAD_COLUMNS[:3]
    (run_dir.path / schema.CPU_LOAD_FILE).write_text(",".join(columns) + "\n" + "\n".join(loads) + "\n")
    run_dir.env_path.write_text(json.dumps({
        "host": {"hostname": "quiet", "cpu_count_logical": HOST_CPUS, "affinity": HOST_CPUS},
        "launch": {"nproc_per_node": 1, "bindings": [None]},
        "local_devices": [0],
    }))
    run_dir.config_path.write_text("values:\n  telemetry_interval_s: 0.5\n")
    windows = {"train_start_ms": 40_000.0, "train_end_ms": 50_000.0, "eval_intervals_ms": [[45_000.0, 46_000.0]],
               "warmup_intervals_ms": [[0.0, 2_000.0], [40_000.0, 42_000.0]], "warmup_samples": 50,
               "warmup_steps": 5}
    if attempts:
        windows["attempts_ms"] = [[0.0, 10_000.0], [40_000.0, 50_000.0]]
    events = [
        {"key": "run_start", "value": BASE["run_id"], "metadata": {"world_size": 1, "global_batch": 10,
                                                                   "flops_per_sample": 1e9}},
        {"key": "train_stop", "value": "converged", "step": 20, "samples": 200, "metadata": {}},
        {"key": "windows", "value": {"train_s": 15.0, "eval_s": 1.0, "warmup_s": 4.0, "whole_s": 20.0},
         "metadata": windows},
    ]
    run_dir.events_path.write_text("".join(json.dumps({"time_ms": 0.0, "rank": 0, **e}) + "\n" for e in events))
    return run_dir


@pytest.mark.parametrize("with_counter, source", [(True, "counter"), (False, "mean_power")])
def test_power_and_energy_of_a_resumed_run_count_each_attempts_steady_spans_only(
    tmp_path: Path, with_counter: bool, source: str
) -> None:
    summary = build_summary(write_record(tmp_path, with_counter), BASE)
    validate_summary(summary)
    assert summary["power"] == {
        "mean_w_per_device": pytest.approx(100.0),
        "energy_per_sample_j": pytest.approx(10.0),  # 100 W x 15 s / (200 - 50) samples
        "source": "telemetry",
        "energy_source": source,
        "samples_per_device": 17 + 7 + 9,  # the rows of [2, 10], [42, 45] and [46, 50] s
        "too_few_samples": False,
    }


def test_a_quiet_resumed_run_is_not_contended_by_what_ran_while_it_was_down(tmp_path: Path) -> None:
    host = build_summary(write_record(tmp_path), BASE)["host"]
    assert host["others_cpu_share"] == pytest.approx(0.1 / HOST_CPUS)  # 1 + 1 CPU s over 2 x 10 s x 4 CPUs
    assert host["others_cpu_share"] < CONTENDED_SHARE and host["contended"] is False


def test_a_record_older_than_the_sampler_column_states_no_sampling_cost_and_keeps_its_contention(
    tmp_path: Path,
) -> None:
    summary = build_summary(write_record(tmp_path, sampler_column=False), BASE)
    validate_summary(summary)
    assert summary["telemetry"]["sampler_cpu_s"] is None and summary["telemetry"]["sampler_cpu_per_sample_ms"] is None
    assert summary["host"]["others_cpu_share"] == pytest.approx(0.1 / HOST_CPUS)


def test_a_record_without_attempts_counts_its_last_train_window(tmp_path: Path) -> None:
    # An older record: one window, [train_start_ms, train_end_ms], here attempt 2's: 7 s at 100 W.
    power = build_summary(write_record(tmp_path, attempts=False), BASE)["power"]
    assert power["mean_w_per_device"] == pytest.approx(100.0)
    assert power["energy_per_sample_j"] == pytest.approx(100.0 * 7 / 150)


def test_the_telemetry_object_states_the_configured_and_the_achieved_rate(tmp_path: Path) -> None:
    telemetry = build_summary(write_record(tmp_path), BASE)["telemetry"]
    assert telemetry == {
        "interval_s": 0.5,
        "achieved_hz": pytest.approx(42 / 20.0),  # 21 rows in each 10 s attempt
        "longest_gap_s": pytest.approx(0.5),  # the idle gap is outside every attempt
        "rows": len(SAMPLED_MS),
        # 41 samples of 1 ms in attempt 1, 21 of 2 ms in attempt 2: the second sampler's restart is not a loss.
        "sampler_cpu_s": pytest.approx(0.041 + 0.042),
        "sampler_cpu_per_sample_ms": pytest.approx(83 / 62),
    }


def test_a_sensor_that_takes_seconds_per_read_shows_and_marks_the_power_figure(tmp_path: Path) -> None:
    run_dir = write_record(tmp_path)
    # The same run with a sensor that returns every 4 s although the sampler was asked for 2 Hz.
    slow = [ms for ms in SAMPLED_MS if ms % 4_000 == 0]
    rows = [f"{ms}.0,0,0,{power_at(ms)},,1.0,80.0,,,,2.0" for ms in slow]
    run_dir.telemetry_path.write_text(",".join(schema.TELEMETRY_COLUMNS) + "\n" + "\n".join(rows) + "\n")
    summary = build_summary(run_dir, BASE)
    assert summary["telemetry"]["achieved_hz"] == pytest.approx(6 / 20.0)  # 0, 4, 8 s and 40, 44, 48 s
    assert summary["telemetry"]["achieved_hz"] < MIN_RATE_SHARE / 0.5
    assert summary["telemetry"]["longest_gap_s"] == pytest.approx(4.0)
    assert summary["power"]["samples_per_device"] == 4 < MIN_POWER_SAMPLES  # 4, 8, 44 and 48 s are steady
    assert summary["power"]["too_few_samples"] is True


def test_ranks_sharing_one_device_count_it_once_in_energy_and_mfu(tmp_path: Path) -> None:
    run_dir = write_record(tmp_path)
    env = json.loads(run_dir.env_path.read_text())
    shared = build_summary(run_dir, {**BASE, "nproc_per_node": 2, "world_size": 2})
    run_dir.env_path.write_text(json.dumps({**env, "local_devices": [0, 1]}))
    two = build_summary(run_dir, {**BASE, "nproc_per_node": 2, "world_size": 2})
    run_dir.env_path.unlink()
    unknown = build_summary(run_dir, {**BASE, "nproc_per_node": 2, "world_size": 2})
    run_dir.env_path.write_text(json.dumps({**env, "local_devices": [0, 0]}))
    two_nodes = build_summary(run_dir, {**BASE, "nnodes": 2, "nproc_per_node": 2, "world_size": 4})
    assert [s["devices"] for s in (shared, two, unknown, two_nodes)] == [1, 2, 2, 2]
    assert shared["power"]["energy_per_sample_j"] == pytest.approx(10.0)
    assert two["power"]["energy_per_sample_j"] == pytest.approx(20.0)  # each device drew the telemetry's mean
    p_train = shared["throughput"]["p_train"]
    assert shared["mfu"] == pytest.approx(p_train * 1e9 / 1e12)
    assert two["mfu"] == pytest.approx(p_train * 1e9 / (2 * 1e12))
