"""``benchbase export tensorboard|mlflow``: a real demo run's record written into each tracker, then read back with
the tracker's own reader (TensorBoard's EventAccumulator, MLflow's client on its file store) and compared with what
the record holds, read here straight from its files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHORT, benchbase_env, run_benchbase

pytest.importorskip("tensorboard", reason="the tensorboard extra is part of benchbase-core[test]")
pytest.importorskip("mlflow", reason="the mlflow extra (mlflow-skinny) is part of benchbase-core[test]")


@pytest.fixture(scope="module")
def run_dir(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short real demo run (12 steps, a loss every 2, two evaluations, telemetry every second)."""
    out = tmp_path_factory.mktemp("tracker-runs")
    result = run_benchbase(["run", "cpm", "--vendor", "cpu", *SHORT, "--out", str(out / "runs")], cache_dir, out)
    assert result.returncode in (0, 3), result.stdout + result.stderr
    (found,) = (out / "runs").iterdir()
    return found


def _recorded(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] as the record's files hold them: rank 0's step and eval events, each device's
    telemetry, and the summary's figures at the last step."""
    expected: dict[str, list[tuple[int, float]]] = {}
    summary = json.loads((run_dir / "summary.json").read_text())
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["rank"] != 0:
            continue
        if event["key"] == "step":
            expected.setdefault("train/loss", []).append((event["step"], event["value"]))
            expected.setdefault("train/samples_per_s", []).append((event["step"], event["metadata"]["samples_per_s"]))
        elif event["key"] == "eval":
            expected.setdefault(f"eval/{summary['metric_name']}", []).append((event["step"], event["value"]))
            for name, value in event["metadata"]["extras"].items():
                expected.setdefault(f"eval/{name}", []).append((event["step"], value))
    with (run_dir / "telemetry.csv").open() as rows:
        for row in csv.DictReader(rows):
            for column in ("power_w", "memory_used_gib", "utilization_pct", "rss_gib"):
                if row[column]:
                    points = expected.setdefault(f"telemetry/{column}/node{row['node']}_dev{row['device']}", [])
                    points.append((len(points), float(row[column])))
    figures = {"p_train": summary["throughput"]["p_train"], "final_metric": summary["final_metric"],
               "peak_memory_gib_per_device": summary["memory"]["peak_gib_per_device"],
               "e2e_s": summary["windows"]["e2e_s"]}
    for name, value in figures.items():
        expected[f"figures/{name}"] = [(summary["steps"], value)]
    return expected


def _close(read_back: list[tuple[int, float]], recorded: list[tuple[int, float]]) -> bool:
    """TensorBoard keeps scalars as 32-bit floats; MLflow keeps 64-bit ones."""
    return [step for step, _ in read_back] == [step for step, _ in recorded] and all(
        value == pytest.approx(want, rel=1e-6) for (_, value), (_, want) in zip(read_back, recorded))


def test_tensorboard_event_files_read_back_equal_to_the_record(run_dir, bench, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = bench("export", "tensorboard", str(run_dir.parent), "--logdir", str(tmp_path / "tb"))
    assert result.returncode == 0, result.stderr
    assert f"wrote {tmp_path / 'tb' / run_dir.name} (" in result.stdout
    assert f"view them with: tensorboard --logdir {tmp_path / 'tb'}" in result.stdout
    accumulator = EventAccumulator(str(tmp_path / "tb" / run_dir.name), size_guidance={"scalars": 0})
    accumulator.Reload()
    recorded = _recorded(run_dir)
    assert {"train/loss", "eval/embedding_average", "eval/token_accuracy", "telemetry/rss_gib/node0_dev0",
            "figures/p_train"} <= set(recorded)
    for tag, points in recorded.items():
        read_back = [(event.step, event.value) for event in accumulator.Scalars(tag)]
        assert _close(read_back, points), tag
    walltimes = [event.wall_time for event in accumulator.Scalars("train/loss")]
    assert walltimes == sorted(walltimes) and walltimes[0] > 1.7e9  # the recorded times, not the export's


def test_mlflow_file_store_reads_back_equal_to_the_record(run_dir, bench, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 reads its file store only when told to

    store = tmp_path / "mlruns"
    result = bench("export", "mlflow", str(run_dir), "--store", str(store), "--experiment", "nightly")
    assert result.returncode == 0, result.stderr
    client = MlflowClient(tracking_uri=store.as_uri())
    (tracked,) = client.search_runs([client.get_experiment_by_name("nightly").experiment_id])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert tracked.data.tags["benchbase.run_id"] == summary["run_id"]
    assert tracked.data.tags["benchbase.vendor"] == "cpu" and tracked.data.params["max_steps"] == "12"
    for tag, points in _recorded(run_dir).items():
        history = sorted(client.get_metric_history(tracked.info.run_id, tag), key=lambda metric: metric.step)
        assert _close([(metric.step, metric.value) for metric in history], points), tag


def test_a_second_export_of_the_same_run_is_refused_and_writes_nothing(run_dir, bench, tmp_path):
    assert bench("export", "mlflow", str(run_dir), "--store", str(tmp_path / "m")).returncode == 0
    again = bench("export", "mlflow", str(run_dir), "--store", str(tmp_path / "m"))
    assert again.returncode == 2 and "is already in experiment 'benchbase'" in again.stderr
    assert "Traceback" not in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert bench("export", "tensorboard", str(run_dir), "--logdir", str(tmp_path / "t")).returncode == 0
    again = bench("export", "tensorboard", str(run_dir), "--logdir", str(tmp_path / "t"))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert [path.name for path in (tmp_path / "t").iterdir()] == [run_dir.name]


@pytest.mark.parametrize(("tracker", "package", "extra"), [("tensorboard", "tensorboard", "tensorboard"),
                                                           ("mlflow", "mlflow", "mlflow")])
def test_a_missing_tracker_library_is_one_line_naming_the_extra(run_dir, cache_dir, tmp_path, tracker, package, extra):
    # The package is made unimportable in this process only (an import of it raises ImportError), as on a host
    # where the extra was never installed.
    code = f"import sys; sys.modules[{package!r}] = None; from benchbase.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, "export", tracker, str(run_dir), "--logdir" if
                             tracker == "tensorboard" else "--store", str(tmp_path / "out")],
                            env=benchbase_env(cache_dir), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: the {'TensorBoard' if tracker == 'tensorboard' else 'MLflow'} export needs the "
        f"{'tensorboard' if tracker == 'tensorboard' else 'mlflow-skinny'} package, which is not installed; "
        f"install the extra: pip install 'benchbase-core[{extra}]'"
    ]


def test_a_folder_without_records_is_refused_in_one_line(bench, tmp_path):
    (tmp_path / "empty").mkdir()
    result = bench("export", "tensorboard", str(tmp_path / "empty"), "--logdir", str(tmp_path / "tb"))
    assert result.returncode == 2 and "nothing to export under" in result.stderr
    assert not (tmp_path / "tb").exists()


def test_a_tracker_folder_in_the_records_or_on_a_file_is_refused_and_the_records_are_untouched(run_dir, bench,
                                                                                              tmp_path):
    before = sorted(path.name for path in run_dir.parent.rglob("*"))
    (tmp_path / "a-file").write_text("mine\n")
    for args, message in (
        (["tensorboard", str(run_dir.parent), "--logdir", str(run_dir.parent)], "is inside the records it exports"),
        (["mlflow", str(run_dir), "--store", str(run_dir / "mlruns")], "is inside the records it exports"),
        (["tensorboard", str(run_dir), "--logdir", str(tmp_path / "a-file")], "is not a folder"),
        (["mlflow", str(run_dir), "--store", str(tmp_path / "a-file")], "is not a folder"),
    ):
        result = bench("export", *args)
        assert result.returncode == 2 and message in result.stderr, args
        assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(path.name for path in run_dir.parent.rglob("*")) == before
    assert (tmp_path / "a-file").read_text() == "mine\n"
