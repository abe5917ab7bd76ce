"""The record's vocabulary is written once, in ``benchbase.record.schema``: a summary field declared there is passed by
the supervisor, written by the summary builder, checked by the validator, read by the report's loader and averaged in
the report, with no second edit anywhere."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from benchbase.contract import SensorReading
from benchbase.record import schema
from benchbase.record.events import EventLog
from benchbase.record.rundir import RecordError, RunDir, validate_summary
from benchbase.record.schema import Field, Kind
from benchbase.record.summary import base_summary, build_summary
from benchbase.report import build_report, load_runs, render
from benchbase.report.grouping import GroupKey

#: A field a later benchbase might add: the energy a wall meter read, known to the supervisor before the summary.
WALL_ENERGY = Field("wall_energy_kwh", Kind.NUMBER, "energy the wall meter read over the run", base=True, mean=True)


@pytest.fixture
def wall_energy_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one edit a new field needs: its line in the schema."""
    monkeypatch.setattr(schema, "SUMMARY_FIELDS", (*schema.SUMMARY_FIELDS, WALL_ENERGY))


def finished_run(root: Path, name: str, **base: object) -> RunDir:
    """A converged 1x1 record as ``benchbase run`` leaves it: the worker's ``run_start``, then the summary built
    from the supervisor's base fields (``base`` adds to them)."""
    run_dir = RunDir.create(root, name)
    with EventLog(run_dir.events_path, rank=0) as events:
        events.emit("run_start", global_batch=16, world_size=1, target=0.9)
    fields = base_summary(
        run_id=run_dir.run_id, case="cpm", preset="demo", vendor="cpu", official=True, status=schema.CONVERGED,
        nnodes=1, nproc_per_node=1, world_size=1, device_model="host", precision="FP32", per_device_batch=16,
        metric_name="accuracy", target=0.9, **base,
    )  # fmt: skip
    run_dir.write_summary(build_summary(run_dir, fields))
    return run_dir


def test_a_field_declared_once_is_written_validated_loaded_and_reported(wall_energy_declared, tmp_path):
    runs = tmp_path / "runs"
    first = finished_run(
        runs, "20261128-080000-cpm-cpu-1x1-aaaaaa", repeat_group="g", repeat_index=0, wall_energy_kwh=1.5
    )
    finished_run(runs, "20261128-080100-cpm-cpu-1x1-bbbbbb", repeat_group="g", repeat_index=1, wall_energy_kwh=2.5)

    # Written: the builder writes every declared field, in the schema's order, so the new one comes last.
    summary = json.loads(first.summary_path.read_text(encoding="utf-8"))
    assert list(summary)[-1] == "wall_energy_kwh" and summary["wall_energy_kwh"] == 1.5

    # Validated: a record without it, or with a value of the wrong kind, is refused.
    with pytest.raises(RecordError, match="has no 'wall_energy_kwh'"):
        validate_summary({key: value for key, value in summary.items() if key != "wall_energy_kwh"})
    with pytest.raises(RecordError, match="'wall_energy_kwh' should be a number, got str"):
        validate_summary({**summary, "wall_energy_kwh": "1.5 kWh"})

    # Loaded: the report's run has it as an attribute.
    result = load_runs([runs])
    assert result.skipped == ()
    assert sorted(run.wall_energy_kwh for run in result.runs) == [1.5, 2.5]

    # Reported: the row of the two repeats carries its mean in its values (the JSON report).
    document = json.loads(render(build_report(result), "json"))
    (row,) = document["rows"]
    assert row["values"]["wall_energy_kwh"] == 2.0


def test_the_supervisor_cannot_pass_a_field_the_schema_does_not_declare(tmp_path):
    with pytest.raises(ValueError, match="unknown base field.*wall_energy_kwh"):
        finished_run(tmp_path / "runs", "20261128-080000-cpm-cpu-1x1-aaaaaa", wall_energy_kwh=1.5)


def test_summary_json_holds_the_declared_fields_in_their_order_and_extras_after(tmp_path):
    run_dir = RunDir.create(tmp_path, "20261128-080000-cpm-cpu-1x1-aaaaaa")
    base = base_summary(run_id=run_dir.run_id, case="cpm", vendor="cpu", official=True, status=schema.RUNNING)
    summary = build_summary(run_dir, base, extras={"telemetry_errors": []})
    assert list(summary) == [*schema.field_names(), "telemetry_errors"]
    validate_summary(summary)


def test_base_summary_keeps_the_schema_order_whatever_order_the_supervisor_names_them():
    assert list(base_summary(supervisor_cpu_s=1.0, status="running", run_id="r")) == [
        "run_id",
        "status",
        "supervisor_cpu_s",
    ]


def test_a_field_added_to_schema_2_after_records_were_written_may_be_absent(tmp_path):
    """Records written before ``seed``, ``host``, ``software``, the device's memory capacity, the physical device
    count, the telemetry's quality, the power figure's sample count, the warm-up window, the count of evaluated
    samples, the ranks' threads, the sampler's own CPU, the metric's direction, the provenance and the parallelism
    existed stay valid (and their metric is read as higher-is-better, their parallelism as DDP: the only kinds there
    were)."""
    run_dir = finished_run(tmp_path / "runs", "20261128-080000-cpm-cpu-1x1-aaaaaa")
    later = [field.name for field in schema.SUMMARY_FIELDS if not field.always_present]
    assert later == ["devices", "seed", "parallelism", "higher_is_better", "final_eval_samples", "telemetry",
                     "threads", "device_memory_total_gib", "host", "software", "provenance"]
    later_keys = {field.name: [key.name for key in field.keys if not key.always_present]
                  for field in schema.SUMMARY_FIELDS if any(not key.always_present for key in field.keys)}
    assert later_keys == {"windows": ["warmup_s"], "power": ["samples_per_device", "too_few_samples"],
                          "telemetry": ["sampler_cpu_s", "sampler_cpu_per_sample_ms"]}
    older = {key: value for key, value in run_dir.read_summary().items() if key not in later}
    for name, keys in later_keys.items():
        if name in older:  # an object added later (telemetry) goes with its keys
            older[name] = {key: value for key, value in older[name].items() if key not in keys}
    validate_summary(older)
    (run_dir.path / "summary.json").write_text(json.dumps(older))
    (run,) = load_runs([run_dir.path]).runs
    assert run.seed is None and run.hostname is None and run.software is None
    assert run.devices is None and run.too_few_samples is None and run.warmup_s is None
    assert run.higher_is_better is None and GroupKey.of(run).higher_is_better is True
    assert run.final_eval_samples is None
    assert run.communication_library is None and run.code_revisions is None and run.job is None
    assert run.parallelism == "ddp"


def test_every_status_but_running_is_final_and_has_its_own_exit_code():
    assert schema.RUNNING not in schema.FINAL_STATUSES
    assert set(schema.FINAL_STATUSES) == set(schema.STATUS_EXIT_CODES)
    assert set(schema.COMPLETED_STATUSES) < set(schema.FINAL_STATUSES)
    assert len(set(schema.STATUS_EXIT_CODES.values())) == len(schema.STATUS_EXIT_CODES)


def test_telemetry_has_a_column_per_sensor_of_a_reading_in_its_order():
    sensors = [field.name for field in dataclasses.fields(SensorReading) if field.name != "device"]
    assert schema.TELEMETRY_COLUMNS == ("time_ms", "node", "device", *sensors, "rss_gib")


def test_the_report_averages_exactly_the_fields_marked_mean():
    means = schema.report_means()
    assert "p_train" in means and "power_w_per_device" in means and "harness_cpu_share" in means
    assert "train_s" not in means and "hostname" not in means
