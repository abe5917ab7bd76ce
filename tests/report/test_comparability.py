"""What a row rests on: Stability per --repeat group, Scalability only from comparable runs (same host and software,
no oversubscription or contention), rows that say what they are in every format (synthetic records in tmp_path)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from benchbase.report import build_report, load_runs, render

IDENTITY = "cpm official, cpu Intel Xeon Gold 6330: "
TWO = dict(nproc_per_node=2, world_size=2, global_batch=32)


def _cells(report, column="Scalability"):
    return {row.runs[0].run_id: row.cells[column] for row in report.rows}


def test_stability_is_per_repeat_group_and_a_lone_test_run_is_a_row_of_its_own(runs_dir, write_run):
    for index in range(4):
        write_run(runs_dir, f"rep-{index}", repeat_group="g1", repeat_index=index, seed=1234 + index)
    write_run(runs_dir, "smoke", status="timeout", exit_code=5, reason="--timeout 4")
    report = build_report(load_runs([runs_dir]))
    stability = _cells(report, "Stability")
    assert stability == {"rep-0": "1 (4/4)", "smoke": "0 (0/1)"}, "the timed-out test run does not pull 4/4 to 4/5"
    group = next(row for row in report.rows if row.stats.repeat_group == "g1")
    assert (group.values["runs_counted"], group.values["stability"]) == (4, 1.0)


def test_an_oversubscribed_scale_point_is_refused_with_its_reason(runs_dir, write_run):
    write_run(runs_dir, "one")
    write_run(runs_dir, "two", host={"cpus": 2, "threads": 4, "oversubscribed": True}, **TWO)
    cells = _cells(build_report(load_runs([runs_dir])))
    assert cells["two"] == "n/a (oversubscribed: 4 threads on 2 CPUs)"
    assert cells["one"] == "1 (baseline)"


def test_a_scale_point_that_ran_alongside_another_run_is_contended(runs_dir, write_run):
    write_run(runs_dir, "one", started_at="2026-11-28T08:00:00Z")
    write_run(runs_dir, "two", started_at="2026-11-28T09:00:00Z", **TWO)
    write_run(runs_dir, "other", started_at="2026-11-28T09:00:30Z", per_device_batch=8, global_batch=8)
    report = build_report(load_runs([runs_dir]), detail=True)
    cells = _cells(report)
    assert cells["two"] == "n/a (contended: ran alongside other)"
    assert cells["other"] == "n/a (contended: ran alongside two)"
    assert cells["one"] == "1 (baseline)", "runs one after another (touching at most) never contend"
    two = next(row for row in report.rows if row.runs[0].run_id == "two")
    assert dict(two.detail)["Scalability basis"] == "not comparable: contended: ran alongside other"


def test_baselines_from_another_host_software_or_an_oversubscribed_run_are_not_used_and_the_cell_says_why(
    runs_dir, write_run
):
    write_run(runs_dir, "elsewhere", host={"hostname": "bench-02"})
    write_run(runs_dir, "upgraded", software={"benchbase": "0.2.0", "torch": "2.13.0"})
    write_run(runs_dir, "crowded", host={"threads": 128, "oversubscribed": True})
    write_run(runs_dir, "crashed", status="failed", exit_code=4)
    write_run(runs_dir, "two", **TWO)
    assert _cells(build_report(load_runs([runs_dir])))["two"] == (
        "n/a (no comparable 1x1 run: 1 on another host, 1 with other software, 1 oversubscribed, 1 not completed)"
    )


def test_a_scale_point_uses_every_comparable_one_device_run_in_the_folder_whatever_its_row(runs_dir, write_run):
    write_run(runs_dir, "yesterday", throughput={"p_train": 40.0})
    write_run(runs_dir, "today-a", repeat_group="g", throughput={"p_train": 44.0})
    write_run(runs_dir, "today-b", repeat_group="g", repeat_index=1, throughput={"p_train": 42.0})
    write_run(runs_dir, "two", throughput={"p_train": 75.6}, **TWO)
    row = next(row for row in build_report(load_runs([runs_dir]), detail=True).rows if row.key.world_size == 2)
    assert row.values["scalability"] == pytest.approx(75.6 / (2 * 42.0))  # mean of 40, 44 and 42
    assert row.cells["Scalability"] == "0.90 (0.86–0.95 from 1 + 3 runs)"
    assert dict(row.detail)["Scalability basis"] == (
        "1 run(s) of this row against 3 comparable 1x1 run(s) (yesterday, today-a, today-b) on bench-01, same "
        "software; range 0.86 to 0.95"
    )


def test_records_without_host_facts_are_not_compared(runs_dir, write_run):
    write_run(runs_dir, "old-one", host=None, software=None)
    write_run(runs_dir, "old-two", host=None, software=None, **TWO)
    assert set(_cells(build_report(load_runs([runs_dir]))).values()) == {"n/a (host not recorded)"}


def test_the_run_command_view_keeps_its_own_rows_but_finds_baselines_in_the_whole_folder(runs_dir, write_run):
    write_run(runs_dir, "one", throughput={"p_train": 40.0})
    write_run(runs_dir, "two", throughput={"p_train": 72.0}, **TWO)
    report = build_report(load_runs([runs_dir]), only_runs={"two"})
    assert [row.runs[0].run_id for row in report.rows] == ["two"]
    assert report.rows[0].cells["Scalability"] == "0.90 (1 + 1 runs)"


def test_accumulated_batches_say_so_and_memory_shows_peak_over_capacity(runs_dir, write_run):
    write_run(runs_dir, "accumulating", global_batch=32, grad_accum=2, device_memory_total_gib=40.0)
    write_run(runs_dir, "plain", per_device_batch=32, global_batch=32)
    configurations = _cells(build_report(load_runs([runs_dir])), "Configuration")
    assert configurations == {"accumulating": f"{IDENTITY}torch 2.13.0, bs:32 (16x2 per device), 1x, FP32",
                              "plain": f"{IDENTITY}torch 2.13.0, bs:32, 1x, FP32"}
    memory = _cells(build_report(load_runs([runs_dir])), "Memory utilization (G)")
    assert memory == {"accumulating": "0.8/40.0*1", "plain": "0.8*1"}


def test_olympic_time_to_target_drops_the_fastest_and_the_slowest(runs_dir, write_run):
    for index, seconds in enumerate((30.0, 41.0, 40.0, 39.0, 60.0)):
        write_run(runs_dir, f"r{index}", repeat_group="g", repeat_index=index, time_to_target_s=seconds)
    row = build_report(load_runs([runs_dir]), detail=True).rows[0]
    assert row.values["time_to_target_olympic_s"] == pytest.approx(40.0)
    assert dict(row.detail)["Time to target (olympic)"] == (
        "40.00 s: mean of 3 of 5 runs, fastest and slowest dropped (MLPerf)")
    assert (row.values["time_to_target_min_s"], row.values["time_to_target_max_s"]) == (30.0, 60.0)


def test_olympic_time_to_target_needs_all_but_one_run_to_converge(runs_dir, write_run):
    for index, status in enumerate(("converged", "not_converged", "timeout")):
        write_run(runs_dir, f"r{index}", repeat_group="g", repeat_index=index, status=status,
                  exit_code={"converged": 0, "not_converged": 3, "timeout": 5}[status])
    detail = dict(build_report(load_runs([runs_dir]), detail=True).rows[0].detail)
    assert detail["Time to target (olympic)"] == "n/a (2 of 3 runs did not reach the target)"


@pytest.fixture
def mixed(runs_dir, write_run):
    write_run(runs_dir, "demo-run", preset="demo", target=0.96)
    write_run(runs_dir, "official-run")
    return build_report(load_runs([runs_dir]), reference=True, detail=True)


def test_every_format_identifies_vendor_device_and_preset_on_every_row(mixed):
    ours = ["cpm demo, cpu Intel Xeon Gold 6330: ", "cpm official, cpu Intel Xeon Gold 6330: "]
    published = ["[published] cpm official, iluvatar BI-V100: ", "[published] cpm official, nvidia A100-SXM4-40GB: "]
    markdown = render(mixed, "md").splitlines()
    body = markdown[2: markdown.index("")]
    assert len(body) == len(mixed.rows) + len(mixed.references)
    assert all(any(f"| {who}" in line for who in ours + published) for line in body)
    for fmt in ("table", "html"):
        text = render(mixed, fmt)
        for who in ours + published:
            assert who.replace("[published] ", "") in text, (fmt, who)
    document = json.loads(render(mixed, "json"))
    assert [row["cells"]["Configuration"].split(": ")[0] + ": " for row in document["rows"]] == ours
    assert {ref["preset"] for ref in document["references"]} == {"official"}
    lines = list(csv.DictReader(io.StringIO(render(mixed, "csv"))))
    assert all(line["vendor"] and line["device_model"] and line["preset"] for line in lines)


def test_units_are_stated_where_the_seed_header_has_no_room(mixed):
    markdown = render(mixed, "md")
    assert markdown.splitlines()[0] == ("| Convergence criteria | Configuration | Performance | Accuracy | Power (W) "
                                        "| Scalability | Memory utilization (G) | Stability |")
    assert "- Units: Performance in samples/s" in markdown
    assert re.search(r"Performance<br><small>samples/s</small>", render(mixed, "html"))
    assert "(samples/s)" in render(mixed, "table")
    assert json.loads(render(mixed, "json"))["units"]["Performance"] == "samples/s"


def test_a_run_that_shared_the_cpus_with_other_processes_is_contended(runs_dir, write_run):
    write_run(runs_dir, "one", host={"others_cpu_share": 0.02, "contended": False})
    write_run(runs_dir, "two", host={"others_cpu_share": 0.78, "contended": True}, **TWO)
    cells = _cells(build_report(load_runs([runs_dir])))
    assert cells["two"] == "n/a (contended: other processes used 78% of the CPUs)"
    assert cells["one"] == "1 (baseline)"


def test_the_reasons_no_baseline_fits_follow_the_order_the_one_device_runs_started(runs_dir, write_run):
    write_run(runs_dir, "upgraded", software={"benchbase": "0.2.0", "torch": "2.13.0"})
    write_run(runs_dir, "elsewhere", host={"hostname": "bench-02"})
    write_run(runs_dir, "two", **TWO)
    write_run(runs_dir, "two-elsewhere", host={"hostname": "bench-02"}, throughput={"p_train": 90.0}, **TWO)
    cells = _cells(build_report(load_runs([runs_dir])))
    assert cells["two"] == "n/a (no comparable 1x1 run: 1 with other software, 1 on another host)"
    assert cells["two-elsewhere"] == "0.94 (1 + 1 runs)", "each host finds its own baseline among the same runs"


def test_a_basis_of_many_one_device_runs_names_the_first_ten_and_counts_the_rest(runs_dir, write_run):
    for index in range(12):
        write_run(runs_dir, f"one-{index:02d}")
    write_run(runs_dir, "two", **TWO)
    row = next(row for row in build_report(load_runs([runs_dir])).rows if row.key.world_size == 2)
    first_ten = ", ".join(f"one-{index:02d}" for index in range(10))
    assert dict(row.detail)["Scalability basis"] == (
        f"1 run(s) of this row against 12 comparable 1x1 run(s) ({first_ten} and 2 more, in start order) on "
        "bench-01, same software; range 0.50 to 0.50"
    )
