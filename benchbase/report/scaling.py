"""Scalability: how much of the ideal N-fold speed-up N devices delivered, from runs actually recorded.

``throughput(N devices) / (N x throughput(1 device))`` (docs/report-format.md, "The standard table"). Both
throughputs are the rows' Performance values (mean ``p_train`` over the same basis runs), so a reader can check the
cell from the table itself. The one-device row is the baseline of everything that matches it in case, preset, vendor,
device model, SDK, precision, per-device batch, gradient accumulation, metric/target and official flag; anything
else would credit or blame the hardware for a changed recipe. Without such a 1x1 row the ratio is not stated, never
estimated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from benchbase.report import formatting
from benchbase.report.aggregate import GroupStats
from benchbase.report.grouping import GroupKey

BASELINE = "1 (baseline)"


@dataclass(frozen=True)
class Scalability:
    """The cell text and, when there is one, the ratio."""

    text: str
    value: float | None


def _scaling_key(key: GroupKey) -> tuple[object, ...]:
    accumulation = key.global_batch / (key.per_device_batch * key.world_size)
    return (
        key.case,
        key.preset,
        key.vendor,
        key.device_model,
        key.sdk,
        key.precision,
        key.per_device_batch,
        accumulation,
        key.metric_name,
        key.target,
        key.official,
    )


def scalability(groups: Iterable[GroupStats]) -> dict[GroupKey, Scalability]:
    """The Scalability cell of every group."""
    groups = list(groups)
    baselines = {_scaling_key(group.key): group for group in groups if group.key.world_size == 1}
    cells: dict[GroupKey, Scalability] = {}
    for group in groups:
        throughput = group.mean("p_train")
        if group.key.world_size == 1:
            cells[group.key] = Scalability(BASELINE, 1.0 if throughput else None)
            continue
        baseline = baselines.get(_scaling_key(group.key))
        if baseline is None:
            cells[group.key] = Scalability(formatting.not_available("no 1x1 run"), None)
            continue
        base = baseline.mean("p_train")
        if base is None or base.value == 0:
            cells[group.key] = Scalability(formatting.not_available("1x1 run has no throughput"), None)
        elif throughput is None:
            cells[group.key] = Scalability(formatting.not_available("no throughput"), None)
        else:
            value = throughput.value / (group.key.world_size * base.value)
            cells[group.key] = Scalability(formatting.ratio(value), value)
    return cells
