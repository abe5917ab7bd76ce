"""A run record's series and figures in experiment trackers (TensorBoard, MLflow), written after the run from the
record alone: nothing here runs inside the timed loop. docs/report-format.md, "Trackers", names each series."""

from __future__ import annotations

from benchbase.export.trackers.mlflow_store import export_to_mlflow
from benchbase.export.trackers.points import Scalar, figures, series
from benchbase.export.trackers.runs import exportable_runs
from benchbase.export.trackers.tensorboard_logdir import export_to_tensorboard

__all__ = ["Scalar", "export_to_mlflow", "export_to_tensorboard", "exportable_runs", "figures", "series"]
