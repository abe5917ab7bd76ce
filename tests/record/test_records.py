"""The run directory: ids, safe names, atomic writes, and the summary schema a report relies on."""

from __future__ import annotations

import json
import math
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from benchbase.config.resolve import ResolvedConfig, merge_parameters, resolve_config
from benchbase.contract import Param, Preset, SensorReading
from benchbase.errors import BenchbaseError
from benchbase.record.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, atomic_write_yaml
from benchbase.record.events import eval_extras
from benchbase.record.nonfinite import decode_nonfinite, encode_nonfinite
from benchbase.record.rundir import RecordError, RunDir, check_name, new_run_id, utc_timestamp, validate_summary
from benchbase.record.schema import STATUS_EXIT_CODES, TELEMETRY_COLUMNS
from benchbase.record.summary import build_summary
from benchbase.record.telemetry_file import TelemetryWriter, read_telemetry


@pytest.fixture
def minimal_summary(tmp_path):
    """A factory of schema-2 summaries of a run that has just started, as the supervisor writes them."""

    def make(**changes):
        run_dir = RunDir.create_unique(tmp_path / "started", "cpm", "cpu", 1, 1)
        base = {"run_id": run_dir.run_id, "case": "cpm", "vendor": "cpu", "official": True, "status": "running"}
        summary = build_summary(run_dir, base)
        summary.update(changes)
        return summary

    return make


# -- names and ids ---------------------------------------------------------------------------------------------


def test_run_id_has_utc_time_case_vendor_topology_and_a_random_tail():
    now = datetime(2026, 11, 28, 8, 0, 5, tzinfo=timezone.utc)
    run_id = new_run_id("cpm", "iluvatar", 1, 8, now=now)
    assert re.fullmatch(r"20261128-080005-cpm-iluvatar-1x8-[0-9a-f]{6}", run_id)


def test_run_id_time_is_converted_to_utc():
    now = datetime(2026, 11, 28, 16, 0, 0, tzinfo=timezone(timedelta(hours=8)))
    assert new_run_id("cpm", "cpu", 1, 1, now=now).startswith("20261128-080000-")


def test_two_run_ids_in_the_same_second_differ():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert len({new_run_id("cpm", "cpu", 1, 1, now=now) for _ in range(50)}) > 45


def test_utc_timestamp_is_iso_with_z():
    assert utc_timestamp(datetime(2026, 11, 28, 8, 0, 0, tzinfo=timezone.utc)) == "2026-11-28T08:00:00Z"


@pytest.mark.parametrize("name", ["cpm", "BI-V100x1x8", "a.b_c-d", "x" * 128])
def test_check_name_accepts_safe_names(name):
    assert check_name(name, "run id") == name


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "a b", "x" * 129, "名字", "a\nb"])
def test_check_name_refuses_anything_that_could_leave_the_folder_or_break_a_path(name):
    with pytest.raises(BenchbaseError, match="bad run id"):
        check_name(name, "run id")


def test_a_case_name_with_a_slash_cannot_become_a_run_id():
    with pytest.raises(BenchbaseError, match="bad run id"):
        new_run_id("../../etc", "cpu", 1, 1)


# -- atomic writes ---------------------------------------------------------------------------------------------


def test_atomic_writes_replace_the_file_and_leave_no_temp_files(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_text(path, "old")
    atomic_write_json(path, {"x": 1, "名": "值"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"x": 1, "名": "值"}
    atomic_write_yaml(tmp_path / "b.yaml", {"lr": 1e-5})
    assert (tmp_path / "b.yaml").read_text() == "lr: 1.0e-05\n"
    atomic_write_bytes(tmp_path / "c.bin", b"\x00\x01")
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.yaml", "c.bin"]


def test_an_atomic_write_that_fails_keeps_the_old_file_and_removes_its_temp(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_json(path, {"x": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"x": object()})
    assert json.loads(path.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_atomic_files_are_readable_by_others_like_normal_files(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_json(path, {})
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


# -- non-finite numbers ----------------------------------------------------------------------------------------


def test_nan_and_inf_become_null_with_a_marker_and_come_back():
    obj = {"value": float("nan"), "metadata": {"loss/scale": [1.0, float("inf")], "x~y": float("-inf")}}
    encoded = encode_nonfinite(obj)
    assert encoded == {
        "value": None,
        "metadata": {"loss/scale": [1.0, None], "x~y": None},
        "nonfinite": {"/value": "nan", "/metadata/loss~1scale/1": "inf", "/metadata/x~0y": "-inf"},
    }
    text = json.dumps(encoded, allow_nan=False)
    decoded = decode_nonfinite(json.loads(text))
    assert math.isnan(decoded["value"])
    assert decoded["metadata"] == {"loss/scale": [1.0, float("inf")], "x~y": float("-inf")}
    assert "nonfinite" not in decoded


def test_finite_objects_are_not_marked():
    assert encode_nonfinite({"a": 1.5, "b": [None, "x"]}) == {"a": 1.5, "b": [None, "x"]}


def test_a_marker_that_points_nowhere_is_refused():
    with pytest.raises(ValueError, match="points nowhere"):
        decode_nonfinite({"a": None, "nonfinite": {"/b": "nan"}})


# -- the run directory -----------------------------------------------------------------------------------------


def test_create_makes_the_run_folder_with_logs_and_knows_every_path(tmp_path):
    run_dir = RunDir.create(tmp_path / "runs", "r1")
    assert run_dir.path == tmp_path / "runs" / "r1"
    assert run_dir.run_id == "r1"
    assert run_dir.logs_dir.is_dir()
    assert run_dir.config_path.name == "config.yaml"
    assert run_dir.env_path.name == "env.json"
    assert run_dir.events_path.name == "events.jsonl"
    assert run_dir.telemetry_path.name == "telemetry.csv"
    assert run_dir.summary_path.name == "summary.json"
    assert run_dir.checkpoint_dir == run_dir.path / "checkpoint"
    assert run_dir.log_path(3) == run_dir.path / "logs" / "rank3.log"
    assert run_dir.node_telemetry_path(2) == run_dir.path / "nodes" / "2" / "telemetry.csv"


def test_two_runs_can_never_share_a_folder(tmp_path):
    RunDir.create(tmp_path, "r1")
    with pytest.raises(BenchbaseError, match="already exists"):
        RunDir.create(tmp_path, "r1")


def test_create_refuses_an_unsafe_run_id(tmp_path):
    with pytest.raises(BenchbaseError, match="bad run id"):
        RunDir.create(tmp_path, "../escape")
    assert list(tmp_path.iterdir()) == []


def test_create_unique_gives_distinct_folders_named_by_run_id(tmp_path):
    dirs = {RunDir.create_unique(tmp_path, "cpm", "cpu", 1, 1).path for _ in range(5)}
    assert len(dirs) == 5
    assert all(re.fullmatch(r"\d{8}-\d{6}-cpm-cpu-1x1-[0-9a-f]{6}", p.name) for p in dirs)


def test_an_output_folder_that_cannot_be_created_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BenchbaseError, match="cannot create output folder"):
        RunDir.create_unique(blocker / "runs", "cpm", "cpu", 1, 1)


def test_open_refuses_a_path_that_is_not_a_run_folder(tmp_path):
    with pytest.raises(RecordError, match="no run directory"):
        RunDir.open(tmp_path / "nope")


def test_telemetry_paths_include_other_nodes_in_node_order(tmp_path):
    run_dir = RunDir.create(tmp_path, "r1")
    run_dir.telemetry_path.write_text("")
    for node in (10, 2):
        path = run_dir.node_telemetry_path(node)
        path.parent.mkdir(parents=True)
        path.write_text("")
    assert run_dir.telemetry_paths() == [
        run_dir.telemetry_path,
        run_dir.node_telemetry_path(2),
        run_dir.node_telemetry_path(10),
    ]


def test_config_env_and_summary_round_trip(tmp_path, minimal_summary):
    run_dir = RunDir.create(tmp_path, "r1")
    params = merge_parameters("cpm", {"lr": Param(5e-4, "peak lr")}, {"batch_size": 16})
    resolved = resolve_config(params, Preset("official", ""), {}, None, {"batch_size": 8}, False, case="cpm")
    run_dir.write_config(resolved.to_record(), extra={"run_id": "r1", "topology": "1x1"})
    record = run_dir.read_config()
    assert record == {**resolved.to_record(), "run_id": "r1", "topology": "1x1"}
    assert ResolvedConfig.from_record(record) == resolved
    with pytest.raises(ValueError, match="would overwrite the resolved config"):
        run_dir.write_config(resolved.to_record(), extra={"values": {}})
    run_dir.write_env({"host": "h", "vendor": {"sdk": "torch 2.13.0"}})
    assert run_dir.read_env() == {"host": "h", "vendor": {"sdk": "torch 2.13.0"}}
    summary = minimal_summary(final_metric=float("nan"))
    run_dir.write_summary(summary)
    assert "NaN" not in run_dir.summary_path.read_text()
    again = run_dir.read_summary()
    assert math.isnan(again["final_metric"])
    again["final_metric"] = summary["final_metric"] = None
    assert again == summary


def test_a_truncated_summary_is_a_record_error_naming_the_file(tmp_path, minimal_summary):
    run_dir = RunDir.create(tmp_path, "r1")
    run_dir.write_summary(minimal_summary())
    text = run_dir.summary_path.read_text()
    run_dir.summary_path.write_text(text[: len(text) // 2])
    with pytest.raises(RecordError, match=re.escape(f"{run_dir.summary_path} is not valid JSON")):
        run_dir.read_summary()


def test_a_missing_summary_or_config_is_a_record_error(tmp_path):
    run_dir = RunDir.create(tmp_path, "r1")
    with pytest.raises(RecordError, match="summary.json is missing"):
        run_dir.read_summary()
    with pytest.raises(RecordError, match="config.yaml is missing"):
        run_dir.read_config()


def test_a_summary_that_fails_the_schema_is_never_written(tmp_path, minimal_summary):
    run_dir = RunDir.create(tmp_path, "r1")
    with pytest.raises(RecordError):
        run_dir.write_summary(minimal_summary(steps="ten"))
    assert not run_dir.summary_path.exists()


# -- summary schema --------------------------------------------------------------------------------------------


def test_exit_codes_say_the_status():
    assert STATUS_EXIT_CODES == {"converged": 0, "not_converged": 3, "failed": 4, "timeout": 5, "diverged": 6,
                                 "interrupted": 130}


def test_a_running_summary_with_nulls_is_valid(minimal_summary):
    validate_summary(minimal_summary())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps": "ten"}, "'steps' should be an integer, got str"),
        ({"official": None}, "'official' should be a boolean, got null"),
        ({"target": True}, "'target' should be a number, got bool"),
        ({"status": "done"}, "unknown status 'done'"),
        ({"status": "converged", "exit_code": 3}, "exit_code 3 does not match status 'converged' (0)"),
        ({"schema": 1}, "has schema 1, this benchbase reads 2"),
        ({"final_extras": {"token_accuracy": "high"}}, "'final_extras' should be an object of numbers, got dict"),
        ({"initial_extras": [0.1]}, "'initial_extras' should be an object of numbers, got list"),
        ({"windows": {"train_s": 1.0}}, "has no windows.init_s"),
        ({"power": {"mean_w_per_device": "x", "energy_per_sample_j": None, "source": "telemetry",
                    "energy_source": None}},
         "power.mean_w_per_device should be a number, got str"),
        ({"power": {"mean_w_per_device": None, "energy_per_sample_j": None, "source": "guess",
                    "energy_source": None}},
         "power.source must be one of telemetry, unavailable"),
    ],
)
def test_validate_summary_names_the_first_problem(minimal_summary, changes, message):
    with pytest.raises(RecordError, match=re.escape(message)):
        validate_summary(minimal_summary(**changes), where="x/summary.json")


def test_validate_summary_names_a_missing_key(minimal_summary):
    summary = minimal_summary()
    del summary["throughput"]
    with pytest.raises(RecordError, match="x/summary.json has no 'throughput'"):
        validate_summary(summary, where="x/summary.json")


def test_validate_summary_allows_extra_keys_from_newer_writers(minimal_summary):
    validate_summary(minimal_summary(extra_field=1))


def test_extras_are_any_named_numbers_nan_included(minimal_summary):
    validate_summary(minimal_summary(final_extras={"token_accuracy": 0.5, "loss": math.nan}, initial_extras={}))


def test_eval_extras_read_the_extras_key_else_the_flat_form_of_older_workers():
    timing = {"eval_s": 1.0, "start_ms": 2.0, "end_ms": 3.0}
    assert eval_extras({**timing, "extras": {"token_accuracy": 0.5, "loss": 2.0}}) == {"token_accuracy": 0.5,
                                                                                        "loss": 2.0}
    assert eval_extras({**timing, "token_accuracy": 0.5, "note": "text", "flag": True}) == {"token_accuracy": 0.5}
    assert eval_extras(None) == eval_extras({"extras": {"bad": "x"}}) == {}


# -- telemetry.csv ---------------------------------------------------------------------------------------------


def test_telemetry_columns_are_the_ones_docs_records_documents():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "records.md").read_text(encoding="utf-8")
    documented = next(line for line in docs.splitlines() if line.startswith("time_ms,"))
    assert ",".join(TELEMETRY_COLUMNS) == documented


def test_telemetry_rows_are_written_per_device_with_empty_cells_for_missing_sensors(tmp_path):
    path = tmp_path / "telemetry.csv"
    with TelemetryWriter(path, node=1) as writer:
        writer.write(
            [
                SensorReading(0, power_w=156.5, memory_used_gib=20.6, memory_total_gib=32.0, utilization_pct=97.0),
                SensorReading(1, power_w=float("nan"), temperature_c=61.0, clock_mhz=1500.0, energy_j=12.5),
            ],
            rss_gib=3.25,
            time_ms=1732780000123.4,
        )
    assert path.read_text().splitlines() == [
        ",".join(TELEMETRY_COLUMNS),
        "1732780000123.4,1,0,156.5,,20.6,32.0,97.0,,,3.25",
        "1732780000123.4,1,1,,12.5,,,,61.0,1500.0,3.25",
    ]


def test_telemetry_reads_back_as_numbers_and_none(tmp_path):
    path = tmp_path / "telemetry.csv"
    with TelemetryWriter(path, node=0) as writer:
        writer.write([SensorReading(0, power_w=100.0)], rss_gib=None, time_ms=5.0)
    assert read_telemetry(path) == [
        {"time_ms": 5.0, "node": 0, "device": 0, "power_w": 100.0, "energy_j": None, "memory_used_gib": None,
         "memory_total_gib": None, "utilization_pct": None, "temperature_c": None, "clock_mhz": None, "rss_gib": None}
    ]


def test_reopening_telemetry_appends_without_a_second_header_and_mends_a_torn_row(tmp_path):
    path = tmp_path / "telemetry.csv"
    with TelemetryWriter(path, node=0) as writer:
        writer.write([SensorReading(0, power_w=1.0)], rss_gib=None, time_ms=1.0)
    with open(path, "a") as handle:
        handle.write("2.0,0,0,2")  # the sampler was killed mid-row
    with TelemetryWriter(path, node=0) as writer:
        writer.write([SensorReading(0, power_w=3.0)], rss_gib=None, time_ms=3.0)
    rows = read_telemetry(path)
    assert [(r["time_ms"], r["power_w"]) for r in rows] == [(1.0, 1.0), (3.0, 3.0)]
    assert path.read_text().count("time_ms") == 1


def test_a_torn_last_telemetry_row_is_dropped_even_if_every_column_is_there(tmp_path):
    path = tmp_path / "telemetry.csv"
    path.write_text(",".join(TELEMETRY_COLUMNS) + "\n1.0,0,0,100.0,,,,,,,\n2.0,0,0,100.0,,,,,,,1")
    assert [r["time_ms"] for r in read_telemetry(path)] == [1.0]


def test_malformed_telemetry_rows_are_skipped(tmp_path):
    path = tmp_path / "telemetry.csv"
    bad_number, no_device, too_few_cells = "1.0,0,0,abc,,,,,,,", "2.0,0,,1.0,,,,,,,", "3.0,0,0,1.0"
    rows = [",".join(TELEMETRY_COLUMNS), bad_number, no_device, too_few_cells, "4.0,0,0,7.0,,,,,,,"]
    path.write_text("\n".join(rows) + "\n")
    assert [(r["time_ms"], r["power_w"]) for r in read_telemetry(path)] == [(4.0, 7.0)]


def test_a_telemetry_file_of_another_format_is_refused(tmp_path):
    path = tmp_path / "telemetry.csv"
    path.write_text("t,watts\n1,2\n")
    with pytest.raises(RecordError, match="not a benchbase telemetry file"):
        TelemetryWriter(path, node=0)
    with pytest.raises(RecordError, match="no time_ms/node/device columns"):
        read_telemetry(path)
