"""Every standard and detail cell, computed by hand from synthetic records (written per docs/records.md).

The records: a 1x1 repeat group of four (two converged, one failed, the last interrupted), a 1x2 run, a 1x1 run where
nothing converged, a 1x4 run where everything failed, a 1x8 run with no matching 1x1 run, and an unofficial run.
"""

from __future__ import annotations

import statistics

import pytest

from benchbase.report import build_report, load_runs, render
from benchbase.report.columns import STANDARD_COLUMNS

SEED_HEADER = (
    "| Convergence criteria | Configuration | Performance | Accuracy | Power (W) | Scalability "
    "| Memory utilization (G) | Stability |"
)


def _measured(p_train, final, watts, memory, **extra):
    return dict(
        throughput={"p_train": p_train, "p_core": p_train * 1.2, "p_whole": p_train * 0.9, "fps_e2e": p_train * 0.8},
        final_metric=final,
        power={"mean_w_per_device": watts, "energy_per_sample_j": None if watts is None else watts / p_train,
               "source": "nvml" if watts is not None else "unavailable"},
        memory={"peak_gib_per_device": memory},
        **extra,
    )


@pytest.fixture
def report(runs_dir, write_run):
    repeat = dict(repeat_group="rg1")
    write_run(runs_dir, "a1", started_at="2026-11-28T08:00:00Z", repeat_index=0, seed=1234, **repeat,
              **_measured(40.0, 0.915, 100.0, 0.8, initial_metric=0.60, final_extras={"token_accuracy": 0.50},
                          steps=100, samples=1600, windows={"e2e_s": 60.0}, time_to_target_s=50.0,
                          mfu=0.10, peak_flops_per_device=2.0e12))
    write_run(runs_dir, "a2", started_at="2026-11-28T08:01:00Z", repeat_index=1, seed=1235, **repeat,
              **_measured(44.0, 0.921, 110.0, 1.0, initial_metric=0.64, final_extras={"token_accuracy": 0.60},
                          steps=120, samples=1920, windows={"e2e_s": 40.0}, time_to_target_s=30.0,
                          mfu=0.12, peak_flops_per_device=2.0e12))
    write_run(runs_dir, "a3", started_at="2026-11-28T08:02:00Z", repeat_index=2, seed=1236, status="failed",
              exit_code=1, **repeat, **_measured(10.0, 0.70, 300.0, 9.0))
    write_run(runs_dir, "a4", started_at="2026-11-28T08:03:00Z", repeat_index=3, seed=1237, status="interrupted",
              exit_code=130, **repeat, **_measured(99.0, 0.99, 300.0, 9.0))
    write_run(runs_dir, "b1", nproc_per_node=2, world_size=2, global_batch=32,
              **_measured(76.0, 0.912, 120.0, 0.95))
    write_run(runs_dir, "c1", per_device_batch=8, global_batch=8, status="not_converged",
              **_measured(30.0, 0.85, None, 0.5))
    write_run(runs_dir, "d1", nproc_per_node=4, world_size=4, global_batch=64, status="failed",
              **_measured(160.0, 0.40, 100.0, 1.0))
    write_run(runs_dir, "e1", per_device_batch=32, nproc_per_node=8, world_size=8, global_batch=256,
              **_measured(300.0, 0.913, 150.0, 3.25))
    write_run(runs_dir, "u1", official=False, target=0.5, **_measured(60.0, 0.55, None, 0.5))
    return build_report(load_runs([runs_dir]), detail=True)


def _row(report, configuration):
    matches = [row for row in report.rows if row.cells["Configuration"] == configuration]
    assert len(matches) == 1, [row.cells["Configuration"] for row in report.rows]
    return matches[0]


def test_repeats_aggregate_over_converged_runs_and_failed_runs_count_against_stability(report):
    row = _row(report, "cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0, bs:16, 1x, FP32")
    assert [run.run_id for run in row.runs] == ["a1", "a2", "a3", "a4"]
    assert dict(row.cells) == {
        "Convergence criteria": "0.91",
        "Configuration": "cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0, bs:16, 1x, FP32",
        "Performance": "42.0",  # mean(40, 44); the failed and the interrupted run feed no mean
        "Accuracy": "0.918",  # mean(0.915, 0.921)
        "Power (W)": "105*1",  # mean(100, 110) W per device, one device
        "Scalability": "1 (baseline)",
        "Memory utilization (G)": "0.9*1",  # mean(0.8, 1.0) GiB
        "Stability": "0.67 (2/3)",  # a1, a2 converged; a3 failed; a4 interrupted is not counted
    }
    assert row.values["repeat_group"] == "rg1"


def test_detail_view_states_every_number_behind_the_cells(report):
    detail = dict(_row(report, "cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0, bs:16, 1x, FP32").detail)
    cv = statistics.stdev([40.0, 44.0]) / 42.0  # completed runs only: a1, a2
    assert detail["Criteria"] == "embedding_average ≥ 0.91"
    assert detail["FPS"] == "33.60"  # mean(32.0, 35.2)
    assert detail["E2E"] == "50.00 s"  # mean(60, 40)
    assert detail["p_whole"] == "37.8 samples/s"  # mean(36.0, 39.6)
    assert detail["p_train"] == "42.0 samples/s"
    assert detail["p_core"] == "50.4 samples/s"  # mean(48.0, 52.8)
    assert detail["Time to target"] == "40.00 s"
    assert detail["Time to target range"] == "30.00 s to 50.00 s over 2 converged runs (CV 35.4%)"
    # a3 failed, so counts as the slowest: of 30, 50 and "never", the fastest and the slowest are dropped
    assert detail["Time to target (olympic)"] == "50.00 s: mean of 1 of 3 runs, fastest and slowest dropped (MLPerf)"
    assert detail["Repeat group"] == "rg1 (4 run(s))"
    assert detail["Seeds"] == "1234, 1235, 1236, 1237"
    assert detail["Host"] == "bench-01: 64 threads on 64 CPUs"
    assert detail["Throughput range"] == "40.0 samples/s to 44.0 samples/s over 2 completed runs (CV 6.7%)"
    assert detail["Scalability basis"] == "a baseline for rows with more devices on bench-01"
    assert detail["MFU"] == "11.0% of 2.00 TFLOP/s per device"
    assert detail["Energy per sample"] == "2.50 J"  # mean(100/40, 110/44)
    assert detail["Peak memory"] == "0.9 GiB per device"
    assert detail["Harness CPU"] == "n/a (not measured)"  # these summaries predate the harness's own measure
    assert detail["Data wait"] == "n/a (not measured)"
    assert detail["Throughput CV"] == f"{cv * 100:.1f}%" == "6.7%"
    assert detail["Metric"] == "0.62 → 0.918 (before training → at stop)"
    assert detail["Token accuracy"] == "0.55"
    assert detail["Steps / samples"] == "110 / 1,760"
    assert detail["Runs"] == "3 counted: 2 converged, 1 failed; 1 interrupted (excluded from stability and means)"
    assert detail["Means over"] == "the 2 converged run(s)"
    assert detail["Run ids"] == "a1, a2, a3, a4 (interrupted, excluded)"


def test_scalability_divides_by_n_times_the_one_device_throughput(report):
    row = _row(report, "cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0, bs:32, 2x, FP32")
    # 76 / (2 * 42) = 0.9048 against the converged 1x1 runs a1 and a2; the range is 76 / (2 * 44) to 76 / (2 * 40)
    assert row.cells["Scalability"] == "0.90 (0.86–0.95 from 1 + 2 runs)"
    assert row.values["scalability"] == pytest.approx(76 / (2 * 42))
    assert (row.values["scalability_low"], row.values["scalability_high"]) == (76 / 88, 76 / 80)
    assert row.cells["Power (W)"] == "120*2"
    assert row.cells["Memory utilization (G)"] == "1.0*2"  # 0.95 rounds half up
    assert row.cells["Stability"] == "1 (1/1)"


def test_scalability_without_a_matching_one_device_run_is_not_estimated(report):
    row = _row(report, "cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0, bs:256, 8x, FP32")
    assert row.cells["Scalability"] == "n/a (no 1x1 run)"


def test_group_where_nothing_converged_falls_back_to_completed_runs_and_says_so(report):
    row = _row(report, "cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0, bs:8, 1x, FP32")
    assert row.cells["Performance"] == "30.0"
    assert row.cells["Accuracy"] == "0.85"
    assert row.cells["Stability"] == "0 (0/1)"
    assert row.cells["Power (W)"] == "n/a (no power sensor)"
    assert dict(row.detail)["Means over"] == "the 1 completed run(s); none converged"


def test_group_where_every_run_failed_shows_why_it_has_no_numbers(report):
    row = _row(report, "cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0, bs:64, 4x, FP32")
    for column in ("Performance", "Accuracy", "Power (W)", "Memory utilization (G)"):
        assert row.cells[column] == "n/a (no completed run)"
    assert row.cells["Scalability"] == "n/a (no throughput)"
    assert row.cells["Stability"] == "0 (0/1)"
    assert row.values["basis"] == "none"


def test_unofficial_runs_get_their_own_marked_row_and_a_legend(report):
    row = _row(report, "[unofficial] cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0, bs:16, 1x, FP32")
    assert row.cells["Convergence criteria"] == "0.50"
    assert row.cells["Accuracy"] == "0.55"
    assert row.cells["Power (W)"] == "n/a (no power sensor)"
    assert report.rows[-1] is row  # official rows first
    assert any(line.startswith("[unofficial]") for line in report.legend)


def test_markdown_is_the_seed_table_header_separator_then_one_line_per_row(report):
    lines = render(report, "md").splitlines()
    assert lines[0] == SEED_HEADER
    assert lines[1] == "|---|---|---|---|---|---|---|---|"
    body = lines[2 : 2 + len(report.rows)]
    assert ("| 0.91 | cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0, bs:16, 1x, FP32 | 42.0 | 0.918 | 105*1 "
            "| 1 (baseline) | 0.9*1 | 0.67 (2/3) |") in body
    assert all(line.startswith("| ") and line.count(" | ") == len(STANDARD_COLUMNS) - 1 for line in body)
    assert lines[2 + len(report.rows)] == ""


def test_markdown_detail_sections_follow_the_table_only_when_asked(report, runs_dir):
    assert "### 2. cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0, bs:16, 1x, FP32" in render(report, "md")
    plain = build_report(load_runs([runs_dir]), detail=False)
    assert "###" not in render(plain, "md")


def test_terminal_table_shows_every_row(report):
    text = render(report, "table")
    for row in report.rows:
        assert row.cells["Performance"] in text
    assert "0.67 (2/3)" in text


def test_mixed_sdks_never_share_a_row(runs_dir, write_run):
    write_run(runs_dir, "x1", sdk="CUDA 12.4")
    write_run(runs_dir, "x2", sdk="CUDA 12.6")
    report = build_report(load_runs([runs_dir]))
    assert [row.cells["Configuration"] for row in report.rows] == [
        "cpm official, cpu Intel Xeon Gold 6330: CUDA 12.4, bs:16, 1x, FP32",
        "cpm official, cpu Intel Xeon Gold 6330: CUDA 12.6, bs:16, 1x, FP32",
    ]


def test_timeouts_count_against_stability_and_an_all_interrupted_group_has_no_stability(runs_dir, write_run):
    write_run(runs_dir, "ok", repeat_group="rg")
    write_run(runs_dir, "slow", repeat_group="rg", repeat_index=1, status="timeout", exit_code=124)
    write_run(runs_dir, "stopped", nproc_per_node=2, world_size=2, global_batch=32, status="interrupted")
    one, two = build_report(load_runs([runs_dir])).rows
    assert one.cells["Stability"] == "0.50 (1/2)"
    assert two.cells["Stability"] == "n/a (every run interrupted)"
    assert two.cells["Performance"] == "n/a (no completed run)"


def test_a_sharded_run_is_a_row_of_its_own_marked_fsdp_beside_unchanged_ddp_rows(runs_dir, write_run):
    """The same workload at 2 ranks, replicated (a record made before ``parallelism`` existed, and one naming
    ``ddp``) and sharded: the sharded one is its own row, ``2x fsdp``, and both scale against the same 1x1 run."""
    write_run(runs_dir, "one", **_measured(40.0, 0.915, 100.0, 0.8))
    write_run(runs_dir, "old", nproc_per_node=2, world_size=2, global_batch=32, **_measured(76.0, 0.912, 120.0, 0.95))
    write_run(runs_dir, "ddp", nproc_per_node=2, world_size=2, global_batch=32, parallelism="ddp",
              **_measured(78.0, 0.912, 120.0, 0.95))
    write_run(runs_dir, "fsdp", nproc_per_node=2, world_size=2, global_batch=32, parallelism="fsdp",
              **_measured(60.0, 0.912, 120.0, 0.6))
    report = build_report(load_runs([runs_dir]))
    by_run = {row.runs[0].run_id: row.cells["Configuration"] for row in report.rows}
    assert by_run["old"] == by_run["ddp"] == "cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0, bs:32, 2x, FP32"
    assert by_run["fsdp"] == "cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0, bs:32, 2x fsdp, FP32"
    sharded = _row(report, by_run["fsdp"])
    assert [run.run_id for run in sharded.runs] == ["fsdp"]
    assert sharded.values["scalability"] == pytest.approx(60 / (2 * 40)), "against the same 1x1 run as DDP's rows"
