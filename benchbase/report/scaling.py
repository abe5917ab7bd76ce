"""Scalability: how much of the ideal N-fold speed-up N devices delivered, from comparable runs actually recorded.

``throughput(N devices) / (N x throughput(1 device))`` (docs/report-format.md, "Scalability and comparability").
The N-device throughput is the row's Performance (mean ``p_train`` over its basis runs); the one-device throughput is
the mean over every comparable 1x1 run loaded, whatever its row or repeat group, so a 1x2 run made today finds the
1x1 runs recorded yesterday in the same folder. A ratio of two throughputs says something about the hardware only
when nothing else differed, so a 1x1 run is comparable when it matches the row in case, preset, vendor, device
model, SDK, precision, per-device batch, gradient accumulation, metric/target and official flag, and also

* ran on the same host (node 0's, for a multi-node run) with the same package versions (``software``);
* was not oversubscribed: its ranks ran no more threads than the host had CPUs (``host.oversubscribed``);
* was not contended: other processes did not take more than a tenth of the host's CPU time while it trained
  (``host.contended``, measured by the run), and it did not run at the same time as another loaded run on the same
  host (which also covers records made before contention was measured, or with telemetry off).

The last two hold for the row's own runs too. The 3.47 a two-rank run reached "under load" beside a 0.49 when the
machine was quiet was exactly a contended point. When no comparable baseline exists the cell says why, never
estimates; when one does, it shows the range the two sets of runs allow and how many runs it rests on.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from benchbase.record.schema import CONVERGED
from benchbase.report import formatting
from benchbase.report.aggregate import GroupStats
from benchbase.report.grouping import GroupKey
from benchbase.report.run import Run

BASELINE = "1 (baseline)"


@dataclass(frozen=True)
class Scalability:
    """The cell text, the ratio and its range when there is one, and what it rests on (for the detail view)."""

    text: str
    value: float | None
    low: float | None = None
    high: float | None = None
    basis: str = ""


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


def _moment(text: str | None) -> datetime | None:
    """``2026-11-28T08:00:00Z`` (the records' spelling) as a datetime; ``None`` when absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def contention(runs: Iterable[Run]) -> dict[str, str]:
    """Run id -> the id of the first other loaded run that ran on the same host while it did.

    Times are the records' ``started_at`` / ``ended_at`` (whole seconds); intervals that only touch do not overlap,
    so repeats run one after another never contend. A run without both times, or without a host, contends with none.
    """
    spans = [
        (run, start, end)
        for run in runs
        if run.hostname and (start := _moment(run.started_at)) and (end := _moment(run.ended_at))
    ]
    spans.sort(key=lambda span: span[1])
    contended: dict[str, str] = {}
    for run, start, end in spans:
        for other, other_start, other_end in spans:
            if other.run_id != run.run_id and other.hostname == run.hostname and start < other_end \
                    and other_start < end:
                contended[run.run_id] = other.run_id
                break
    return contended


def unfit(run: Run, contended: Mapping[str, str]) -> str | None:
    """Why ``run`` can be neither a scale point nor a baseline, or ``None`` when it can."""
    if run.hostname is None or run.oversubscribed is None or run.software is None:
        return "host not recorded"
    if run.oversubscribed:
        return f"oversubscribed: {run.host_threads} threads on {run.host_cpus} CPUs"
    if run.contended and run.others_cpu_share is not None:
        return f"contended: other processes used {formatting.percent(run.others_cpu_share, 0)} of the CPUs"
    if run.run_id in contended:
        return f"contended: ran alongside {contended[run.run_id]}"
    return None


class Scaling:
    """The Scalability cell of any group, against the 1x1 runs among ``runs`` (everything loaded)."""

    def __init__(self, runs: Iterable[Run]) -> None:
        runs = tuple(runs)
        self._contended = contention(runs)
        self._one_device: dict[tuple[object, ...], list[Run]] = {}
        for run in runs:
            if run.world_size == 1:
                self._one_device.setdefault(_scaling_key(GroupKey.of(run)), []).append(run)

    def cell(self, group: GroupStats) -> Scalability:
        throughput = group.mean("p_train")
        if throughput is None:
            return Scalability(formatting.not_available("no throughput"), None, basis="no throughput")
        own = [run for run in group.basis_runs if run.p_train is not None]
        reasons = [reason for run in own if (reason := unfit(run, self._contended))]
        if reasons:
            return Scalability(formatting.not_available(reasons[0]), None, basis=f"not comparable: {reasons[0]}")
        if group.key.world_size == 1:
            return Scalability(BASELINE, 1.0, basis=f"a baseline for rows with more devices on {own[0].hostname}")
        hosts, software = {run.hostname for run in own}, {run.software for run in own}
        if len(hosts) > 1 or len(software) > 1:
            why = f"its runs ran on {len(hosts)} hosts" if len(hosts) > 1 else "its runs ran different software"
            return Scalability(formatting.not_available(why), None, basis=why)
        candidates = self._one_device.get(_scaling_key(group.key), [])
        if not candidates:
            return Scalability(formatting.not_available("no 1x1 run"), None, basis="no 1x1 run of this workload")
        baseline, rejected = self._baseline(candidates, hosts.pop(), software.pop())
        if not baseline:
            why = "no comparable 1x1 run: " + ", ".join(f"{n} {reason}" for reason, n in rejected.items())
            return Scalability(formatting.not_available(why), None, basis=why)
        return self._ratio(group.key.world_size, own, baseline)

    def _baseline(
        self, candidates: Sequence[Run], host: str | None, software: object
    ) -> tuple[list[Run], Counter[str]]:
        """The comparable 1x1 runs (converged ones if any, else completed ones) and why the others are not."""
        rejected: Counter[str] = Counter()
        fit = []
        for run in candidates:
            reason = unfit(run, self._contended)
            if not run.completed or run.p_train is None:
                rejected["not completed" if not run.completed else "without throughput"] += 1
            elif reason is not None:
                rejected[reason.split(":")[0]] += 1
            elif run.hostname != host:
                rejected["on another host"] += 1
            elif run.software != software:
                rejected["with other software"] += 1
            else:
                fit.append(run)
        converged = [run for run in fit if run.status == CONVERGED]
        return converged or fit, rejected

    @staticmethod
    def _ratio(devices: int, own: Sequence[Run], baseline: Sequence[Run]) -> Scalability:
        mine = [run.p_train for run in own if run.p_train is not None]
        base = [run.p_train for run in baseline if run.p_train is not None]
        value = statistics.fmean(mine) / (devices * statistics.fmean(base))
        low, high = min(mine) / (devices * max(base)), max(mine) / (devices * min(base))
        counts = f"{len(mine)} + {len(base)} runs"
        text = formatting.ratio(value) + (
            f" ({counts})" if len(mine) == len(base) == 1
            else f" ({formatting.ratio(low)}–{formatting.ratio(high)} from {counts})"
        )
        ids = ", ".join(run.run_id for run in baseline)
        basis = (f"{len(mine)} run(s) of this row against {len(base)} comparable 1x1 run(s) ({ids}) on "
                 f"{own[0].hostname}, same software; range {formatting.ratio(low)} to {formatting.ratio(high)}")
        return Scalability(text, value, low, high, basis)
