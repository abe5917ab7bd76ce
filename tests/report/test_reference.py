"""Published reference rows (plugins/cpm/docs/reference.md, "Published numbers"), quoted exactly and marked."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchbase.errors import BenchbaseError
from benchbase.report import build_report, load_references, load_runs, render
from benchbase.report import reference
from benchbase.report.reference import DEFAULT_REFERENCE_DIR

REPO = Path(__file__).resolve().parents[2]


def _by_label():
    return {ref.label: ref for ref in load_references()}


def test_the_reference_folder_is_package_data_of_the_core():
    """benchbase/report/reference_data ships in the benchbase-core wheel (tests/cli/test_wheels.py installs it)."""
    assert DEFAULT_REFERENCE_DIR == REPO / "benchbase" / "report" / "reference_data"
    assert sorted(path.name for path in DEFAULT_REFERENCE_DIR.glob("*.yaml")) == [
        "iluvatar-bi-v100-cpm.yaml",
        "nvidia-a100-cpm.yaml",
    ]


def test_iluvatar_row_quotes_the_deepsparkhub_seed_table_exactly():
    ref = _by_label()["BI-V100 x8"]
    assert ref.source == "DeepSparkHub CPM README"
    assert dict(ref.cells) == {
        "Convergence criteria": "0.91",
        "Configuration": "SDK V2.2, bs:128, 8x, AMP",
        "Performance": "357",
        "Accuracy": "0.91",
        "Power (W)": "156*8",
        "Scalability": "0.93",
        "Memory utilization (G)": "20.6*8",
        "Stability": "1",
    }
    assert dict(ref.detail) == {"FPS": "152.86", "E2E": "3558.36 s", "Accuracy": "0.91"}


PERFORMANCE_NOTE = "p_core, the span our p_train times; FlagPerf's p_train also times a per-step host metric"


def test_nvidia_rows_quote_the_flagperf_numbers_and_leave_the_rest_unpublished():
    refs = _by_label()
    assert {ref.source for ref in refs.values() if ref.vendor == "nvidia"} == {"FlagPerf CPM case README"}
    first = refs["A100 1x8, fp16"]
    assert dict(first.detail) == {
        "e2e_time": "1641 s", "p_whole": "587", "p_train": "835", "p_core": "1059", "acc": "0.92",
        "mem": "12.9/40", "Converged at": "step 3397 (869,632 samples)", "Performance cell": PERFORMANCE_NOTE,
    }
    assert first.cells["Power (W)"] == "n/a (not published)"
    assert dict(refs["A100 1x8, fp16, bs=128, lr=0.002"].detail) == {
        "e2e_time": "5469 s", "p_whole": "771", "p_train": "1090", "p_core": "1292", "acc": "0.918",
        "mem": "23.1/40", "Performance cell": PERFORMANCE_NOTE,
    }
    assert dict(refs["A100 1x1, fp16, bs=192"].detail) == {
        "p_whole": "98.8", "p_train": "143.8", "p_core": "168.8", "mem": "39.5/40",
        "Performance cell": PERFORMANCE_NOTE,
    }
    assert dict(refs["A100 2x8, fp16, bs=192"].detail) == {
        "p_whole": "1583", "p_train": "2221", "p_core": "2583.8", "mem": "29.9/40",
        "Performance cell": PERFORMANCE_NOTE,
    }


def test_flagperf_performance_is_its_p_core_the_span_our_p_train_times():
    """FlagPerf's p_train also times a training-set metric computed on the host every step, which benchbase does not
    run; its p_core times forward, backward and optimizer, as our p_train does. So Performance quotes p_core, and
    both published figures stay in the detail (plugins/cpm/docs/reference.md, "Published numbers")."""
    for ref in _by_label().values():
        if ref.vendor != "nvidia":
            continue
        detail = dict(ref.detail)
        assert ref.cells["Performance"] == detail["p_core"], ref.label
        assert float(detail["p_train"]) < float(detail["p_core"]), ref.label
        assert ref.values["Performance"] == float(detail["p_core"])


def test_references_appear_beside_our_rows_marked_published_with_their_source(runs_dir, write_run):
    write_run(runs_dir, "ours")
    report = build_report(load_runs([runs_dir]), reference=True)
    lines = render(report, "md").splitlines()
    assert lines[2].startswith("| 0.91 | cpm official, cpu Intel Xeon Gold 6330: torch 2.13.0")
    assert ("| 0.91 | [published] cpm official, iluvatar BI-V100: SDK V2.2, bs:128, 8x, AMP | 357 | 0.91 | 156*8 "
            "| 0.93 | 20.6*8 | 1 |") in lines
    assert any("DeepSparkHub CPM README" in line for line in lines)
    assert any("FlagPerf CPM case README" in line for line in lines)
    assert "published" not in render(build_report(load_runs([runs_dir])), "md")


def test_references_of_other_cases_stay_out(runs_dir, write_run):
    write_run(runs_dir, "other", case="bert")
    assert build_report(load_runs([runs_dir]), reference=True).references == ()


def test_a_malformed_reference_file_is_a_user_error(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "schema: benchbase.reference/1\npublished: true\nsource: s\nsource_location: l\ncase: cpm\n"
        "vendor: v\ndevice_model: d\nrows:\n  - label: x\n    standard:\n      Speed: '3'\n"
    )
    with pytest.raises(BenchbaseError, match="unknown column"):
        load_references(tmp_path)
    (tmp_path / "bad.yaml").write_text("schema: benchbase.reference/1\npublished: false\n")
    with pytest.raises(BenchbaseError, match="lacks 'published: true'"):
        load_references(tmp_path)
    with pytest.raises(BenchbaseError, match="reference folder .* not found"):
        load_references(tmp_path / "missing")


def test_a_missing_shipped_reference_folder_names_the_distribution_to_reinstall(tmp_path, monkeypatch):
    monkeypatch.setattr(reference, "DEFAULT_REFERENCE_DIR", tmp_path / "reference_data")
    with pytest.raises(BenchbaseError, match="reference_data not found; reinstall the benchbase-core distribution"):
        load_references()
    with pytest.raises(BenchbaseError, match="not found; pass the folder holding the reference YAML files"):
        load_references(tmp_path / "missing")
