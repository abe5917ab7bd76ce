"""Every derived field of summary.json, checked against numbers worked out by hand from hand-written records."""

from __future__ import annotations

import json
import math

import pytest

from benchbase.record.rundir import RunDir, validate_summary
from benchbase.record.summary import build_summary

HEADER = (
    "time_ms,node,device,power_w,energy_j,memory_used_gib,memory_total_gib,utilization_pct,temperature_c,clock_mhz,"
    "rss_gib"
)

BASE = {
    "run_id": "20261128-080000-cpm-cpu-2x1-abcdef",
    "case": "cpm",
    "preset": "demo",
    "vendor": "cpu",
    "official": True,
    "status": "converged",
    "reason": "target 0.91 reached at step 20",
    "started_at": "2026-11-28T08:00:00Z",
    "ended_at": "2026-11-28T08:00:50Z",
    "nnodes": 2,
    "nproc_per_node": 1,
    "world_size": 2,
    "node_rank": 0,
    "main_run_id": None,
    "repeat_group": None,
    "repeat_index": 0,
    "device_model": "Intel Xeon",
    "sdk": "torch 2.13.0",
    "precision": "FP32",
    "per_device_batch": 8,
    "grad_accum": 1,
    "metric_name": "embedding_average",
    "target": 0.91,
    "peak_flops_per_device": 1e12,
    "config_hash": "sha256:" + "0" * 64,
    "e2e_s": 50.0,
}


def event(key, value=None, step=None, samples=None, time_ms=0.0, **metadata):
    return {"time_ms": time_ms, "key": key, "value": value, "rank": 0, "step": step, "samples": samples,
            "metadata": metadata}


def write_events(run_dir, *events):
    run_dir.events_path.write_text("".join(json.dumps(e) + "\n" for e in events))


def write_telemetry(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "\n" + "".join(row + "\n" for row in rows))


RUN_START = event("run_start", BASE["run_id"], world_size=2, global_batch=16, flops_per_sample=1e9, target=0.91)
EVALS = [
    event("eval", 0.62, step=0, samples=0, eval_s=1.0, start_ms=1000.0, end_ms=2000.0,
          extras={"token_accuracy": 0.10, "loss": 3.2}),
    event("eval", 0.85, step=10, samples=160, eval_s=1.0, start_ms=5000.0, end_ms=6000.0,
          extras={"token_accuracy": 0.30, "loss": 2.6}),
    event("eval", 0.93, step=20, samples=320, eval_s=1.0, start_ms=9000.0, end_ms=10000.0,
          extras={"token_accuracy": 0.55, "loss": 2.1}),
]
TRAIN_STOP = event(
    "train_stop", "converged", step=20, samples=320, converged_step=20, converged_samples=320, time_to_target_s=8.0
)
WINDOWS = event(
    "windows",
    {"init_s": 1.5, "train_s": 6.0, "eval_s": 2.0, "core_s": 5.0, "whole_s": 8.0, "data_wait_s": 0.25,
     "events_cpu_s": 0.03},
    train_start_ms=2000.0,
    train_end_ms=10000.0,
    eval_intervals_ms=[[5000.0, 6000.0], [9000.0, 10000.0]],
    peak_memory_gib=[0.7, 0.8],
)


@pytest.fixture
def finished_run(tmp_path):
    """Two nodes of one device each; node 1's telemetry gathered under nodes/1/."""
    run_dir = RunDir.create(tmp_path, BASE["run_id"])
    write_events(run_dir, RUN_START, EVALS[0], event("step", 2.0, step=10, samples=160), EVALS[1], EVALS[2],
                 TRAIN_STOP, WINDOWS)
    write_telemetry(
        run_dir.telemetry_path,
        [
            "1500.0,0,0,10.0,,5.0,,,,,1.0",  # before the train window
            "3000.0,0,0,100.0,,5.0,,,,,1.0",
            "4000.0,0,0,110.0,,5.0,,,,,1.0",
            "5500.0,0,0,300.0,,5.0,,,,,1.0",  # inside an evaluation
            "7000.0,0,0,120.0,,5.0,,,,,1.0",
            "10000.0,0,0,300.0,,5.0,,,,,1.0",  # last instant of the last evaluation
            "11000.0,0,0,5.0,,5.0,,,,,1.0",  # after the train window
        ],
    )
    write_telemetry(
        run_dir.node_telemetry_path(1),
        ["3000.0,1,0,150.0,,,,,,,", "4000.0,1,0,,,,,,,,", "7000.0,1,0,170.0,,,,,,,"],
    )
    return run_dir


def test_a_converged_run_gets_every_derived_field_as_docs_records_define_it(finished_run):
    summary = build_summary(finished_run, BASE)
    validate_summary(summary)
    assert summary["schema"] == 2
    assert summary["status"] == "converged" and summary["exit_code"] == 0
    assert summary["global_batch"] == 16
    assert summary["target"] == 0.91
    assert summary["initial_metric"] == 0.62
    assert summary["final_metric"] == 0.93
    assert summary["final_extras"] == {"token_accuracy": 0.55, "loss": 2.1}
    assert summary["initial_extras"] == {"token_accuracy": 0.10, "loss": 3.2}
    assert (summary["steps"], summary["samples"]) == (20, 320)
    assert (summary["converged_step"], summary["converged_samples"]) == (20, 320)
    assert summary["time_to_target_s"] == 8.0
    assert summary["windows"] == {
        "init_s": 1.5, "train_s": 6.0, "eval_s": 2.0, "core_s": 5.0, "whole_s": 8.0, "data_wait_s": 0.25,
        "warmup_s": None, "e2e_s": 50.0
    }, "a record from before warm-ups were recorded: no warmup_s, and every sample counts as steady"
    assert summary["throughput"] == {
        "p_train": pytest.approx(320 / 6.0),
        "p_core": pytest.approx(64.0),
        "p_whole": pytest.approx(40.0),
        "fps_e2e": pytest.approx(6.4),
    }
    assert summary["flops_per_sample"] == 1e9
    assert summary["mfu"] == pytest.approx((320 / 6.0) * 1e9 / (2 * 1e12))


def test_power_is_the_mean_over_devices_of_each_devices_mean_inside_the_train_window_outside_evals(finished_run):
    # node 0 device 0: rows at 3000, 4000, 7000 ms -> (100 + 110 + 120) / 3 = 110 W
    # node 1 device 0: rows at 3000, 7000 ms (4000 has no reading) -> (150 + 170) / 2 = 160 W
    # mean over devices: 135 W (a plain mean over rows would give 130 W)
    # energy per sample: 135 W x 2 devices x 6.0 s / 320 samples = 5.0625 J
    # node 1's two samples are the fewest, too few for a mean (benchbase.record.power.MIN_POWER_SAMPLES)
    power = build_summary(finished_run, BASE)["power"]
    assert power == {"mean_w_per_device": pytest.approx(135.0), "energy_per_sample_j": pytest.approx(5.0625),
                     "source": "telemetry", "energy_source": "mean_power", "samples_per_device": 2,
                     "too_few_samples": True}


def test_memory_is_the_highest_peak_any_rank_measured(finished_run):
    assert build_summary(finished_run, BASE)["memory"] == {"peak_gib_per_device": 0.8, "source": "vendor"}


def test_base_fields_are_copied_and_the_summary_survives_writing_and_reading(finished_run):
    summary = build_summary(finished_run, BASE)
    for key in ("run_id", "case", "preset", "vendor", "official", "reason", "started_at", "ended_at", "nnodes",
                "nproc_per_node", "world_size", "node_rank", "main_run_id", "repeat_group", "repeat_index",
                "device_model", "sdk", "precision", "per_device_batch", "grad_accum", "metric_name",
                "peak_flops_per_device", "config_hash"):
        assert summary[key] == BASE[key], key
    finished_run.write_summary(summary)
    assert finished_run.read_summary() == summary


def test_a_run_that_failed_after_run_start_gets_a_valid_summary_of_nulls(tmp_path):
    run_dir = RunDir.create(tmp_path, "r1")
    write_events(run_dir, RUN_START)
    write_telemetry(run_dir.telemetry_path, ["1500.0,0,0,90.0,,3.5,,,,,1.0", "2500.0,0,0,95.0,,4.25,,,,,1.0"])
    base = {**BASE, "status": "failed", "reason": "RuntimeError: CUDA error", "e2e_s": 12.0}
    summary = build_summary(run_dir, base)
    validate_summary(summary)
    assert summary["status"] == "failed" and summary["exit_code"] == 4
    assert summary["global_batch"] == 16
    assert summary["initial_metric"] is summary["final_metric"] is None
    assert summary["initial_extras"] is summary["final_extras"] is None
    assert summary["steps"] is summary["samples"] is summary["converged_step"] is None
    worker_windows = ["init_s", "train_s", "eval_s", "core_s", "whole_s", "data_wait_s", "warmup_s"]
    assert summary["windows"] == dict.fromkeys(worker_windows, None) | {"e2e_s": 12.0}
    assert summary["throughput"] == dict.fromkeys(["p_train", "p_core", "p_whole", "fps_e2e"], None)
    assert summary["mfu"] is None and summary["time_to_target_s"] is None
    assert summary["power"] == {"mean_w_per_device": None, "energy_per_sample_j": None, "source": "unavailable",
                                "energy_source": None, "samples_per_device": None, "too_few_samples": None}
    assert summary["memory"] == {"peak_gib_per_device": 4.25, "source": "telemetry"}


def test_a_run_that_died_mid_training_records_how_far_it_got(tmp_path):
    run_dir = RunDir.create(tmp_path, "r1")
    write_events(run_dir, RUN_START, EVALS[0], event("step", 2.0, step=10, samples=160),
                 event("step", 1.9, step=20, samples=320))
    summary = build_summary(run_dir, {**BASE, "status": "interrupted", "e2e_s": 40.0})
    assert (summary["steps"], summary["samples"]) == (20, 320)
    assert summary["exit_code"] == 130
    assert summary["initial_metric"] == summary["final_metric"] == 0.62
    assert summary["throughput"]["fps_e2e"] == pytest.approx(8.0)
    assert summary["throughput"]["p_train"] is None


def test_a_run_that_never_wrote_an_event_gets_a_running_summary(tmp_path):
    run_dir = RunDir.create(tmp_path, "r1")
    base = {"run_id": "r1", "case": "cpm", "vendor": "cpu", "official": False, "status": "running"}
    summary = build_summary(run_dir, base)
    validate_summary(summary)
    assert summary["exit_code"] is None
    assert summary["target"] is None and summary["world_size"] is None
    assert summary["memory"] == {"peak_gib_per_device": None, "source": "unavailable"}


def test_a_nan_metric_is_kept_visible_through_the_written_summary(tmp_path):
    run_dir = RunDir.create(tmp_path, "r1")
    with open(run_dir.events_path, "w") as handle:
        handle.write(json.dumps(RUN_START) + "\n")
        handle.write(json.dumps(event("eval", 0.62, step=0, extras={"token_accuracy": 0.1})) + "\n")
        nan_eval = event("eval", None, step=10, samples=160, extras={"token_accuracy": None})
        nan_eval["nonfinite"] = {"/value": "nan", "/metadata/extras/token_accuracy": "nan"}
        handle.write(json.dumps(nan_eval) + "\n")
    summary = build_summary(run_dir, {**BASE, "status": "not_converged"})
    assert math.isnan(summary["final_metric"]) and math.isnan(summary["final_extras"]["token_accuracy"])
    run_dir.write_summary(summary)
    assert "NaN" not in run_dir.summary_path.read_text()
    again = run_dir.read_summary()
    assert math.isnan(again["final_metric"]) and math.isnan(again["final_extras"]["token_accuracy"])


def test_extras_written_flat_by_older_workers_are_read_too(tmp_path):
    """Before the ``extras`` key, a case's extras sat beside the worker's own timing keys in the metadata."""
    run_dir = RunDir.create(tmp_path, "r1")
    flat = event("eval", 0.62, step=0, token_accuracy=0.1, loss=3.2, eval_s=1.0, start_ms=1.0, end_ms=2.0,
                 note="not a number, so no extra")
    write_events(run_dir, RUN_START, flat)
    summary = build_summary(run_dir, {**BASE, "status": "interrupted"})
    assert summary["final_extras"] == summary["initial_extras"] == {"token_accuracy": 0.1, "loss": 3.2}
    validate_summary(summary)


def test_an_evaluation_without_extras_records_none_as_an_empty_mapping(tmp_path):
    run_dir = RunDir.create(tmp_path, "r1")
    write_events(run_dir, RUN_START, event("eval", 0.62, step=0, eval_s=1.0, start_ms=1.0, end_ms=2.0, extras={}))
    summary = build_summary(run_dir, {**BASE, "status": "interrupted"})
    assert summary["final_extras"] == summary["initial_extras"] == {}


def test_zero_samples_and_zero_windows_give_null_not_a_division_error(tmp_path):
    run_dir = RunDir.create(tmp_path, "r1")
    zero_windows = event("windows", {"init_s": 1.0, "train_s": 0.0, "eval_s": 0.0, "core_s": 0.0, "whole_s": 0.0},
                         train_start_ms=2000.0, train_end_ms=4000.0, eval_intervals_ms=[], peak_memory_gib=[None])
    write_events(run_dir, RUN_START, event("train_stop", "max_steps", step=0, samples=0), zero_windows)
    write_telemetry(run_dir.telemetry_path, ["3000.0,0,0,100.0,,,,,,,"])
    summary = build_summary(run_dir, {**BASE, "status": "not_converged", "e2e_s": 0.0})
    assert summary["throughput"] == dict.fromkeys(["p_train", "p_core", "p_whole", "fps_e2e"], None)
    assert summary["mfu"] is None
    assert summary["power"] == {"mean_w_per_device": 100.0, "energy_per_sample_j": None, "source": "telemetry",
                                "energy_source": None, "samples_per_device": 1, "too_few_samples": True}
    assert summary["memory"]["source"] == "unavailable"


def test_without_power_readings_power_is_unavailable_not_zero(tmp_path):
    run_dir = RunDir.create(tmp_path, "r1")
    write_events(run_dir, RUN_START, TRAIN_STOP, WINDOWS)
    write_telemetry(run_dir.telemetry_path, ["3000.0,0,0,,,2.0,,,,,1.0", "7000.0,0,0,,,2.5,,,,,1.0"])
    power = build_summary(run_dir, BASE)["power"]
    assert power == {"mean_w_per_device": None, "energy_per_sample_j": None, "source": "unavailable",
                     "energy_source": None, "samples_per_device": None, "too_few_samples": None}


def test_after_a_resume_the_last_attempts_windows_count_and_the_first_eval_stays_initial(tmp_path):
    run_dir = RunDir.create(tmp_path, "r1")
    first_windows = event("windows", {"init_s": 1.0, "train_s": 99.0, "eval_s": 1.0, "core_s": 90.0, "whole_s": 100.0})
    write_events(run_dir, RUN_START, EVALS[0], EVALS[1], first_windows,
                 event("resume", "checkpoint/state.pt", step=10, samples=160),
                 RUN_START, EVALS[2], TRAIN_STOP, WINDOWS)
    summary = build_summary(run_dir, BASE)
    assert summary["initial_metric"] == 0.62 and summary["final_metric"] == 0.93
    assert summary["windows"]["train_s"] == 6.0


def test_the_workloads_target_wins_over_the_configs_and_the_launched_world_size_over_the_workers(tmp_path):
    run_dir = RunDir.create(tmp_path, "r1")
    write_events(run_dir, event("run_start", "r1", world_size=8, global_batch=16, flops_per_sample=1e9, target=0.92))
    summary = build_summary(run_dir, BASE)
    assert summary["target"] == 0.92
    assert summary["world_size"] == 2


def test_an_explicit_exit_code_is_kept(finished_run):
    assert build_summary(finished_run, {**BASE, "status": "interrupted", "exit_code": 130})["exit_code"] == 130


def test_a_torn_telemetry_row_and_a_torn_event_do_not_stop_the_summary(finished_run):
    with open(finished_run.telemetry_path, "a") as handle:
        handle.write("7500.0,0,0,99999.0,,5.0,,,,,1")  # every column present, but the writer never ended the row
    with open(finished_run.events_path, "a") as handle:
        handle.write('{"key": "run_st')
    assert build_summary(finished_run, BASE)["power"]["mean_w_per_device"] == pytest.approx(135.0)


def test_unknown_or_missing_base_fields_are_programming_errors(finished_run):
    with pytest.raises(ValueError, match="unknown base field.*batch"):
        build_summary(finished_run, {**BASE, "batch": 8})
    without_status = {k: v for k, v in BASE.items() if k != "status"}
    with pytest.raises(ValueError, match="needs base field.*status"):
        build_summary(finished_run, without_status)


def test_extras_are_appended_after_the_schema_fields_and_may_not_replace_one(finished_run):
    summary = build_summary(finished_run, BASE, extras={"telemetry_errors": ["nvml: timeout"]})
    assert list(summary)[-1] == "telemetry_errors" and summary["telemetry_errors"] == ["nvml: timeout"]
    validate_summary(summary)
    with pytest.raises(ValueError, match="extras mfu are schema fields"):
        build_summary(finished_run, BASE, extras={"mfu": 1.0})


def test_the_harness_cpu_share_is_the_supervisors_and_the_event_writings_cpu_over_the_train_window(finished_run):
    summary = build_summary(finished_run, {**BASE, "supervisor_cpu_s": 0.09})
    validate_summary(summary)
    assert summary["harness"] == {"supervisor_cpu_s": 0.09, "events_cpu_s": 0.03, "cpu_s": pytest.approx(0.12),
                                  "share_of_train": pytest.approx(0.12 / 6.0)}
    unmeasured = build_summary(finished_run, BASE)["harness"]
    assert unmeasured["supervisor_cpu_s"] is None and unmeasured["cpu_s"] == 0.03, "only what was measured counts"
