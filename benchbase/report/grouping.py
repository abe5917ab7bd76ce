"""Which runs share a row of the standard table (docs/report-format.md, "Rows: grouping and aggregation").

Runs aggregate when they ran the same workload the same way: case, preset, vendor, device model, topology
(nodes x processes), precision, per-device batch and official flag. The key also holds everything else a row prints
or is judged by (SDK, global batch, metric and target), so one row never mixes, say, two SDK versions under a
Configuration cell that names only one of them. Repeats (``repeat_group``) share their key by construction, and
runs made separately with the same key are repeats in all but name, so both aggregate the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from benchbase.report.run import Run


@dataclass(frozen=True)
class GroupKey:
    case: str
    preset: str
    vendor: str
    device_model: str
    sdk: str
    nnodes: int
    nproc_per_node: int
    world_size: int
    precision: str
    per_device_batch: int
    global_batch: int
    metric_name: str
    target: float
    official: bool

    @classmethod
    def of(cls, run: Run) -> GroupKey:
        return cls(**{name: getattr(run, name) for name in cls.__dataclass_fields__})

    @property
    def topology(self) -> str:
        return f"{self.nnodes}x{self.nproc_per_node}"

    def sort_key(self) -> tuple[Any, ...]:
        """Official rows first, then by workload and hardware, smallest topology first (the scaling order)."""
        return (
            not self.official,
            self.case,
            self.preset,
            self.vendor,
            self.device_model,
            self.sdk,
            self.precision,
            self.per_device_batch,
            self.world_size,
            self.nnodes,
            self.global_batch,
            self.metric_name,
            self.target,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def group_runs(runs: Iterable[Run]) -> dict[GroupKey, tuple[Run, ...]]:
    """Runs by group key, in table order; each group's runs keep their (start time) order."""
    groups: dict[GroupKey, list[Run]] = {}
    for run in runs:
        groups.setdefault(GroupKey.of(run), []).append(run)
    return {key: tuple(groups[key]) for key in sorted(groups, key=GroupKey.sort_key)}
