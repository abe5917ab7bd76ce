"""The efficiency table's figures: what one device achieved, and what a joule bought.

Per run, then averaged over the row's basis runs as every other mean of the row (:mod:`.aggregate`):

* MFU: the summary's ``mfu`` (achieved model FLOP/s per device over the vendor's declared peak for the precision).
* Achieved FLOP/s per device: ``p_train x flops_per_sample / devices``, ``devices`` being the physical devices the
  summary counted (``devices``; ranks sharing one device count it once), else the world size (older records).
* Samples per joule: ``1 / energy_per_sample_j``.

Each prints in three significant figures, never fixed decimals: a CPU's MFU of 0.002% must not print as ``0.0%``.
"""

from __future__ import annotations

from benchbase.report import formatting
from benchbase.report.aggregate import GroupStats, Stat
from benchbase.report.columns import MFU, SAMPLES_PER_JOULE, TFLOPS
from benchbase.report.marks import Marks
from benchbase.report.run import Run

NO_COMPLETED_RUN = formatting.not_available("no completed run")


def devices(run: Run) -> int:
    """The physical devices a run's per-device figures divide by: ``devices`` when recorded, else the world size."""
    return run.devices if run.devices is not None and run.devices >= 1 else run.world_size


def achieved_flops_per_device(run: Run) -> float | None:
    """Model FLOP/s one device achieved over the steady train window; ``None`` without the figures it needs."""
    if run.p_train is None or run.flops_per_sample is None:
        return None
    return run.p_train * run.flops_per_sample / devices(run)


def samples_per_joule(run: Run) -> float | None:
    """Samples trained per joule of device energy; ``None`` without a positive energy per sample."""
    energy = run.energy_per_sample_j
    return 1 / energy if energy is not None and energy > 0 else None


def no_power_reason(group: GroupStats) -> str:
    """Why a row has no power figure: no sensor at all, or no reading inside the window."""
    sources = {run.power_source for run in group.basis_runs}
    return "no power sensor" if sources <= {None, "unavailable"} else "no power reading in the train window"


def efficiency_stats(group: GroupStats) -> dict[str, Stat | None]:
    """The row's means, by the name its ``values`` carry them under."""
    return {
        "mfu": group.mean("mfu"),
        "achieved_flops_per_device": group.mean_by(achieved_flops_per_device),
        "samples_per_joule": group.mean_by(samples_per_joule),
    }


def efficiency_cells(group: GroupStats, marks: Marks) -> dict[str, str]:
    """The efficiency table's cells of one row, marked as :mod:`.marks` decides."""
    if group.basis == "none":
        return {column: NO_COMPLETED_RUN for column in (MFU, TFLOPS, SAMPLES_PER_JOULE)}
    stats = efficiency_stats(group)
    mfu, flops, per_joule = stats["mfu"], stats["achieved_flops_per_device"], stats["samples_per_joule"]
    no_peak = group.mean("peak_flops_per_device") is None
    cells = {
        MFU: f"{formatting.significant(mfu.value * 100)}%" if mfu else formatting.not_available(
            "the vendor declares no peak FLOP/s" if no_peak else "not measured"),
        TFLOPS: formatting.significant(flops.value / 1e12) if flops else formatting.not_available(
            "no FLOPs per sample" if group.mean("flops_per_sample") is None else "not measured"),
        SAMPLES_PER_JOULE: formatting.significant(per_joule.value) if per_joule else formatting.not_available(
            no_power_reason(group)),
    }
    return {column: marks.apply(column, text) for column, text in cells.items()}
