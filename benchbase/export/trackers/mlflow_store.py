"""A run's points as an MLflow run in a file store, written with MLflow's own client (``mlflow-skinny``, the
optional extra ``benchbase-core[mlflow]``): the series and figures as metrics (step and timestamp as recorded), the
configuration values as parameters, and the run's identity as tags, so ``mlflow ui --backend-store-uri DIR`` shows
it. MLflow 3 keeps its file store in maintenance mode behind ``MLFLOW_ALLOW_FILE_STORE``, which this export sets for
its own process only; ``mlflow migrate-filestore`` moves such a store into a database."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from benchbase.errors import BenchbaseError
from benchbase.export.trackers.points import Scalar, figures, series, tag_part
from benchbase.record.rundir import RunDir
from benchbase.report.run import Run

EXTRA_FIX = "install the extra: pip install 'benchbase-core[mlflow]'"
#: The tag holding the benchbase run id, by which a second export of one run is refused.
RUN_ID_TAG = "benchbase.run_id"
#: MLflow's ``log_batch`` takes at most 1000 metrics a call.
_BATCH = 1000
#: MLflow's limit on a parameter value's length.
_PARAM_CHARS = 6000


def export_to_mlflow(run: Run, store: Path, experiment: str) -> tuple[str, int]:
    """Write ``run`` into the file store at ``store``, experiment ``experiment``; the MLflow run id and the number
    of metric points written. What MLflow itself refuses (a name, an unwritable store) is one line naming it."""
    client, metric_type, param_type = _client(store)
    from mlflow.exceptions import MlflowException

    try:
        return _export(client, metric_type, param_type, run, store, experiment)
    except MlflowException as exc:
        raise BenchbaseError(f"MLflow refused {run.run_id} in {store}: {exc.message}",
                             "check the --store folder and --experiment name") from None
    except OSError as exc:
        raise BenchbaseError(f"cannot write {store}: {exc.strerror}", "choose a writable --store") from None


def _export(client: Any, metric_type: Any, param_type: Any, run: Run, store: Path, experiment: str) -> tuple[str, int]:
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found is not None else client.create_experiment(experiment)
    for existing in client.search_runs([experiment_id], max_results=50_000):
        if existing.data.tags.get(RUN_ID_TAG) == run.run_id:
            raise BenchbaseError(
                f"{run.run_id} is already in experiment {experiment!r} of {store} (MLflow run {existing.info.run_id})",
                "delete that MLflow run, or choose another --experiment or --store",
            )
    tags = {RUN_ID_TAG: run.run_id, "mlflow.runName": run.run_id}
    tags.update({f"benchbase.{name}": str(run.values.get(name)) for name in
                 ("case", "preset", "vendor", "device_model", "precision", "status", "official")})
    tracked = client.create_run(experiment_id, tags=tags, run_name=run.run_id)
    mlflow_id = tracked.info.run_id
    params = [param_type(name, value) for name, value in _parameters(run)]
    for start in range(0, len(params), 100):
        client.log_batch(mlflow_id, params=params[start:start + 100])
    written, batch, last_time = 0, [], 0.0
    for point in _all_points(run):
        last_time = max(last_time, point.time_s)
        batch.append(metric_type(point.tag, point.value, round(point.time_s * 1000), point.step))
        if len(batch) == _BATCH:
            client.log_batch(mlflow_id, metrics=batch)
            written, batch = written + len(batch), []
    if batch:
        client.log_batch(mlflow_id, metrics=batch)
        written += len(batch)
    client.set_terminated(mlflow_id, status="FINISHED" if run.completed else "FAILED")
    return mlflow_id, written


def _all_points(run: Run) -> Iterator[Scalar]:
    last_time = 0.0
    for point in series(run):
        last_time = max(last_time, point.time_s)
        yield point
    yield from figures(run, last_time)


def _parameters(run: Run) -> list[tuple[str, str]]:
    """The configuration's values (``config.yaml``'s ``values``), as MLflow keeps parameters: text."""
    values = RunDir.open(run.path).read_config().get("values")
    if not isinstance(values, Mapping):
        return []
    return [(tag_part(str(name)), str(value)[:_PARAM_CHARS]) for name, value in values.items()]


def _client(store: Path) -> tuple[Any, Any, Any]:
    """MLflow's tracking client on the file store at ``store``, and its metric and parameter types."""
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from mlflow.entities import Metric, Param
            from mlflow.tracking import MlflowClient
    except ImportError:
        raise BenchbaseError("the MLflow export needs the mlflow-skinny package, which is not installed",
                             EXTRA_FIX) from None
    return MlflowClient(tracking_uri=store.resolve().as_uri()), Metric, Param
