"""A run's points as a TensorBoard log directory, written with the event writer TensorBoard reads
(``torch.utils.tensorboard.SummaryWriter``, which needs the ``tensorboard`` package: the optional extra
``benchbase-core[tensorboard]``). Each run is one sub-folder named like its run folder, so TensorBoard lists the
runs side by side; it is written under a hidden name and renamed into place, so an interrupted export leaves no
half run that a second export would take for a finished one."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchbase.errors import BenchbaseError
from benchbase.export.trackers.points import figures, series
from benchbase.report.run import Run

EXTRA_FIX = "install the extra: pip install 'benchbase-core[tensorboard]'"


def export_to_tensorboard(run: Run, logdir: Path) -> tuple[Path, int]:
    """Write ``run`` to ``logdir/<run folder name>``; the folder and the number of points written."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise BenchbaseError("the TensorBoard export needs the tensorboard package, which is not installed",
                             EXTRA_FIX) from None
    target = logdir / run.path.name
    if target.exists():
        raise BenchbaseError(f"{target} already exists, so {run.run_id} may already be exported there",
                             "remove that folder, or choose another --logdir")
    partial = logdir / f".{run.path.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        writer = SummaryWriter(log_dir=str(partial))
        written, last_time = 0, 0.0
        try:
            for point in series(run):
                writer.add_scalar(point.tag, point.value, point.step, walltime=point.time_s)
                written, last_time = written + 1, max(last_time, point.time_s)
            for point in figures(run, last_time):
                writer.add_scalar(point.tag, point.value, point.step, walltime=point.time_s)
                written += 1
        finally:
            writer.close()
        partial.rename(target)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise BenchbaseError(f"cannot write {target}: {exc.strerror}", "choose a writable --logdir") from None
    return target, written
