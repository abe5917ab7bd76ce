"""Reading run records: bad records are skipped with a reason, never a crash; multi-node parts are merged.

All records are synthetic, written per docs/records.md into tmp_path.
"""

from __future__ import annotations

import json
import time

import pytest

from benchbase.errors import BenchbaseError
from benchbase.record.schema import reported_fields
from benchbase.report import build_report, load_runs, render


def _reasons(result):
    return {skip.path.name: skip.reason for skip in result.skipped}


def test_a_folder_of_run_dirs_and_a_single_run_dir_both_load(runs_dir, write_run):
    first = write_run(runs_dir, "r1")
    write_run(runs_dir, "r2", started_at="2026-11-28T09:00:00Z")
    assert [run.run_id for run in load_runs([runs_dir]).runs] == ["r1", "r2"]
    assert [run.run_id for run in load_runs([first]).runs] == ["r1"]
    assert [run.run_id for run in load_runs([first / "summary.json"]).runs] == ["r1"]


def test_the_same_run_named_twice_is_read_once(runs_dir, write_run):
    first = write_run(runs_dir, "r1")
    result = load_runs([runs_dir, first])
    assert [run.run_id for run in result.runs] == ["r1"]
    assert result.skipped == ()


def test_corrupt_records_are_skipped_with_the_reason(runs_dir, write_run):
    write_run(runs_dir, "good")
    truncated = write_run(runs_dir, "truncated")
    text = (truncated / "summary.json").read_text()
    (truncated / "summary.json").write_text(text[: len(text) // 2])
    write_run(runs_dir, "wrong-type", world_size="eight")
    write_run(runs_dir, "bool-for-int", steps=True)
    write_run(runs_dir, "running", status="running")
    write_run(runs_dir, "odd-status", status="finished")
    write_run(runs_dir, "future", schema=3)
    write_run(runs_dir, "bad-extra", final_extras={"token_accuracy": "high"})
    no_summary = write_run(runs_dir, "no-summary")
    (no_summary / "summary.json").unlink()
    nested_wrong = write_run(runs_dir, "nested-wrong")
    data = json.loads((nested_wrong / "summary.json").read_text())
    data["throughput"] = [47.9]
    (nested_wrong / "summary.json").write_text(json.dumps(data))
    (runs_dir / "not-a-dir.txt").write_text("hello")
    (runs_dir / "list").mkdir()
    (runs_dir / "list" / "summary.json").write_text("[1, 2]")

    result = load_runs([runs_dir])

    assert [run.run_id for run in result.runs] == ["good"]
    reasons = _reasons(result)
    assert reasons["truncated"].startswith("summary.json is not valid JSON (")
    assert reasons["truncated"].endswith("truncated or hand-edited")
    assert reasons["wrong-type"] == "summary.json field 'world_size' is 'eight' (a string), expected an integer"
    assert reasons["bool-for-int"] == "summary.json field 'steps' is true (a boolean), expected an integer"
    assert reasons["running"] == "still running (or the supervisor was killed)"
    assert reasons["odd-status"].startswith("summary.json status 'finished' is not one of converged, ")
    assert reasons["future"] == "summary.json schema is 3; this report reads schemas 1 and 2"
    assert reasons["bad-extra"] == (
        "summary.json field 'final_extras.token_accuracy' is 'high' (a string), expected a number"
    )
    assert reasons["no-summary"].startswith("no summary.json")
    assert reasons["nested-wrong"] == "summary.json field 'throughput.p_train': its parent is a list, not an object"
    assert reasons["not-a-dir.txt"] == "not a run directory (a file)"
    assert reasons["list"] == "summary.json holds a list, not an object"
    assert len(result.skipped) == len(reasons) == 11


def test_missing_measurements_are_none_and_non_finite_numbers_are_not_measurements(runs_dir, write_run):
    folder = write_run(runs_dir, "sparse")
    data = json.loads((folder / "summary.json").read_text())
    del data["throughput"]
    data["final_metric"] = float("nan")
    data["final_extras"] = {"token_accuracy": float("nan"), "loss": None, "bleu": 0.3}  # null: a NaN as written
    (folder / "summary.json").write_text(json.dumps(data))  # json writes NaN, as Python's json does for nan
    (run,) = load_runs([runs_dir]).runs
    assert run.p_train is None and run.final_metric is None
    assert run.final_extras == {"bleu": 0.3}


def test_a_missing_identity_field_skips_the_record(runs_dir, write_run):
    folder = write_run(runs_dir, "anonymous")
    data = json.loads((folder / "summary.json").read_text())
    del data["vendor"]
    (folder / "summary.json").write_text(json.dumps(data))
    assert _reasons(load_runs([runs_dir])) == {"anonymous": "summary.json lacks the field 'vendor'"}


def test_a_path_that_does_not_exist_is_a_user_error_naming_the_fix(tmp_path):
    with pytest.raises(BenchbaseError, match=r"does not exist; pass run directories or a folder of them"):
        load_runs([tmp_path / "nope"])


def test_every_field_the_schema_reports_is_an_attribute_of_a_loaded_run(runs_dir, write_run):
    write_run(runs_dir, "one")
    (run,) = load_runs([runs_dir]).runs
    names = {spec.report_name for _, spec in reported_fields()}
    assert set(run.values) == names
    assert run.power_w_per_device == run.values["power_w_per_device"] and run.topology == "1x1"


def test_multi_node_parts_merge_into_their_main_run(runs_dir, write_run):
    two_nodes = dict(nnodes=2, nproc_per_node=8, world_size=16, global_batch=256, per_device_batch=16)
    write_run(runs_dir, "main", **two_nodes, samples=3200, windows={"train_s": 20.0},
              power={"mean_w_per_device": 150.0, "source": "nvml", "energy_per_sample_j": 0.9},
              memory={"peak_gib_per_device": 20.1})
    write_run(runs_dir, "part1", **two_nodes, node_rank=1, main_run_id="main", status="converged",
              power={"mean_w_per_device": 160.0, "source": "nvml"}, memory={"peak_gib_per_device": 21.4})
    result = load_runs([runs_dir])
    (run,) = result.runs
    assert run.run_id == "main" and run.world_size == 16
    assert run.power_w_per_device == pytest.approx(155.0)  # per-device mean over all 16 devices
    assert run.energy_per_sample_j == pytest.approx(155.0 * 16 * 20.0 / 3200)  # docs/records.md definition
    assert run.peak_memory_gib_per_device == 21.4  # the worst node
    assert [path.name for path in run.part_paths] == ["part1"]
    cells = build_report(result).rows[0].cells
    assert cells["Power (W)"] == "155*16"
    assert cells["Memory utilization (G)"] == "21.4*16"


def test_a_multi_node_run_with_a_missing_part_says_what_it_lacks(runs_dir, write_run):
    write_run(runs_dir, "main", nnodes=2, nproc_per_node=4, world_size=8, global_batch=128,
              power={"mean_w_per_device": 150.0, "source": "nvml", "energy_per_sample_j": 0.9})
    (run,) = load_runs([runs_dir]).runs
    assert run.notes == ("no record of node(s) 1: power and memory from 1 of 2 nodes",)
    assert run.energy_per_sample_j is None
    detail = dict(build_report(load_runs([runs_dir]), detail=True).rows[0].detail)
    assert detail["Notes"] == "main: no record of node(s) 1: power and memory from 1 of 2 nodes"


def test_a_part_without_its_main_run_is_skipped_with_the_fix(runs_dir, write_run):
    write_run(runs_dir, "orphan", nnodes=2, node_rank=1, main_run_id="gone")
    result = load_runs([runs_dir])
    assert result.runs == ()
    assert _reasons(result)["orphan"] == (
        "node 1 of multi-node run gone, whose main record (node_rank 0) was not loaded; pass its directory too"
    )


def test_two_hundred_runs_with_ten_corrupt_report_in_well_under_five_seconds(runs_dir, write_run):
    """A scale check, not a micro-benchmark: the table must read only summary.json."""
    for index in range(200):
        folder = write_run(runs_dir, f"run-{index:03d}", events=False, telemetry=False,
                           repeat_group=f"rg-{index % 20}", nproc_per_node=1 + index % 4,
                           world_size=1 + index % 4, global_batch=16 * (1 + index % 4))
        if index % 20 == 7:
            (folder / "summary.json").write_text('{"schema": 1, "run_id": ')
    start = time.perf_counter()
    result = load_runs([runs_dir])
    markdown = render(build_report(result, detail=True), "md")
    elapsed = time.perf_counter() - start
    assert len(result.runs) == 190 and len(result.skipped) == 10
    assert markdown.count("\n| 0.91 |") == 19  # one row per repeat group; every run of rg-7 is corrupt
    assert elapsed < 5.0, f"report over 200 runs took {elapsed:.2f} s"


def test_a_vendor_that_reports_no_sdk_still_gets_its_row_saying_so(runs_dir, write_run):
    """environment() is optional for a vendor: its runs are reported, the Configuration cell says what is missing."""
    write_run(runs_dir, "quiet-vendor", sdk=None)
    result = load_runs([runs_dir])
    assert [run.sdk for run in result.runs] == ["SDK not reported"] and result.skipped == ()
    assert "SDK not reported, bs:" in render(build_report(result), "csv")


def test_the_detail_shows_the_harness_cpu_share_and_the_data_wait_of_the_run(runs_dir, write_run):
    write_run(runs_dir, "measured", harness={"supervisor_cpu_s": 0.4, "events_cpu_s": 0.01, "cpu_s": 0.41,
                                             "share_of_train": 0.0103}, windows={"data_wait_s": 0.23})
    (row,) = build_report(load_runs([runs_dir]), detail=True).rows
    detail = dict(row.detail)
    assert detail["Harness CPU"] == "1.03% of the train window"
    assert detail["Data wait"] == "0.23 s"
