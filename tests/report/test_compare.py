"""Comparing two runs or groups: every metric side by side with the ratio b/a (synthetic records in tmp_path)."""

from __future__ import annotations

import json

import pytest

from benchbase.errors import BenchbaseError
from benchbase.report import compare, compare_runs, compare_selected, load_runs, render_comparison, select_runs


@pytest.fixture
def result(runs_dir, write_run):
    write_run(runs_dir, "one-a", repeat_group="rg", throughput={"p_train": 40.0},
              power={"mean_w_per_device": 100.0, "source": "nvml"})
    write_run(runs_dir, "one-b", repeat_group="rg", throughput={"p_train": 44.0},
              power={"mean_w_per_device": 110.0, "source": "nvml"})
    write_run(runs_dir, "eight", nproc_per_node=8, world_size=8, global_batch=128, throughput={"p_train": 294.0},
              power={"mean_w_per_device": 126.0, "source": "nvml"})
    return load_runs([runs_dir])


def _lines(comparison):
    return {line.label: line for line in comparison.lines}


def test_a_group_against_a_run_shows_both_texts_and_the_ratio_b_over_a(result):
    lines = _lines(compare_selected(result, "rg", "eight"))
    performance = lines["Performance"]
    assert (performance.a, performance.b, performance.better) == ("42.0", "294", "higher")
    assert performance.ratio == pytest.approx(294.0 / 42.0)
    assert lines["Power (W)"].a == "105*1" and lines["Power (W)"].b == "126*8"
    assert lines["Power (W)"].ratio == pytest.approx(126.0 / 105.0) and lines["Power (W)"].better == "lower"
    # 294 / (8 * 42), against the comparable 1x1 runs loaded with it; range 294 / (8 * 44) to 294 / (8 * 40)
    assert lines["Scalability"].b == "0.88 (0.84–0.92 from 1 + 2 runs)"
    assert lines["Configuration"].ratio is None
    assert "p_core" in lines and "Throughput CV" in lines  # the detail view's metrics too


def test_comparison_renders_in_text_markdown_json_and_csv(result):
    comparison = compare_selected(result, "#1", "#2")
    assert "Performance" in render_comparison(comparison, "table")
    assert render_comparison(comparison, "md").splitlines()[3] == "| Metric | A | B | B/A | Better |"
    document = json.loads(render_comparison(comparison, "json"))
    assert document["schema"] == "benchbase.comparison/1"
    assert document["b"]["run_ids"] == ["eight"]
    assert render_comparison(comparison, "csv").startswith("metric,a,b,ratio_b_over_a,better,a_marks,b_marks\n")
    with pytest.raises(BenchbaseError, match="use --format table, md, json or csv"):
        render_comparison(comparison, "html")


def test_selectors_name_runs_by_id_prefix_repeat_group_row_or_directory(result, runs_dir):
    assert [run.run_id for run in select_runs(result, "eight")] == ["eight"]
    assert [run.run_id for run in select_runs(result, "eig")] == ["eight"]
    assert [run.run_id for run in select_runs(result, "rg")] == ["one-a", "one-b"]
    assert [run.run_id for run in select_runs(result, "#2")] == ["eight"]
    assert [run.run_id for run in select_runs(result, str(runs_dir / "one-a"))] == ["one-a"]
    with pytest.raises(BenchbaseError, match="is the start of 2 run ids"):
        select_runs(result, "one")
    with pytest.raises(BenchbaseError, match="the table has 2 row"):
        select_runs(result, "#3")
    with pytest.raises(BenchbaseError, match="no run, repeat group or table row matches 'zzz'"):
        select_runs(result, "zzz")


def test_a_side_mixing_configurations_is_refused(result):
    with pytest.raises(BenchbaseError, match="side A holds runs of 2 different configurations"):
        compare(result.runs, result.runs[:1])


def test_compare_runs_takes_two_run_directories_and_a_format(result, runs_dir):
    text = compare_runs(runs_dir / "one-a", runs_dir / "eight", "md")
    assert "| Performance | 40.0 | 294 | 7.35 | higher |" in text
    # 294 / (8 * 40): one-a is the only 1x1 run loaded
    assert "| Scalability | 1 (baseline) | 0.92 (1 + 1 runs) | 0.92 | higher |" in text
    by_group = compare_runs("rg", "eight", "csv", context=[runs_dir])
    assert by_group.splitlines()[3].startswith("Performance,42.0,294,7.0,higher")
