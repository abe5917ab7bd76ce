"""Which runs share a row of the standard table (docs/report-format.md, "Rows: grouping and aggregation").

A row is one ``--repeat`` group of one configuration. The configuration (:class:`GroupKey`) is the workload and how
it ran: case, preset, vendor, device model, topology (nodes x processes), precision, per-device batch and official
flag, plus everything else a row prints or is judged by (SDK, global batch, metric, target and which way the
metric is better), so one row never mixes, say, two SDK versions under a Configuration cell that names only one of
them. The libraries that ran the
collectives and the kernels (``provenance``: ``nccl 2.21.5``, ``cudnn 9.1.0``; ``None`` in records made before it)
are part of the configuration too: one SDK label ships with several NCCL and cuDNN builds, and either moves a
throughput. What does not change a result is not: the scheduler's job id, the host name. The revisions of the core
and plugins are shown (``--detail``) but not grouped by: a repeat group is one command, so its runs share one
revision anyway, and the detail view names each row's, so two rows of one configuration made from different
checkouts are told apart there, where a row per edited checkout would scatter a folder's history. Within a
configuration, runs share a row only when they are repeats of one command (``repeat_group``): Stability is a
statement about K tries made together, and a ``--timeout 4`` test run made last week in the same folder is not one
of them. A run without a group (``--repeat 1``) is a row of its own. Scalability still compares rows across groups
(:mod:`.scaling`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from benchbase.record.target import higher_is_better
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
    parallelism: str
    per_device_batch: int
    global_batch: int
    metric_name: str
    target: float
    official: bool
    #: Which way the metric is better; a record made before it was recorded is higher-is-better.
    higher_is_better: bool = True
    communication_library: str | None = None
    kernel_library: str | None = None

    @classmethod
    def of(cls, run: Run) -> GroupKey:
        values = {name: getattr(run, name) for name in cls.__dataclass_fields__}
        values["higher_is_better"] = higher_is_better(values["higher_is_better"])
        return cls(**values)

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
            self.parallelism,
            self.per_device_batch,
            self.world_size,
            self.nnodes,
            self.global_batch,
            self.metric_name,
            self.target,
            self.higher_is_better,
            self.communication_library or "",
            self.kernel_library or "",
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def group_runs(runs: Iterable[Run]) -> list[tuple[GroupKey, str | None, tuple[Run, ...]]]:
    """Rows in table order, each ``(configuration, repeat group or None for a lone run, runs)``; a configuration's
    rows follow one another in the order their first run started, and each row's runs keep their (start) order."""
    rows: dict[tuple[GroupKey, str | None, str | None], list[Run]] = {}
    for run in runs:
        lone = None if run.repeat_group else run.run_id
        rows.setdefault((GroupKey.of(run), run.repeat_group, lone), []).append(run)
    order = sorted(rows, key=lambda row: (row[0].sort_key(), rows[row][0].started_at or "", rows[row][0].run_id))
    return [(key, group, tuple(rows[key, group, lone])) for key, group, lone in order]
