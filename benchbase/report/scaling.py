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

import bisect
import itertools
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from benchbase.report import formatting
from benchbase.report.aggregate import GroupStats
from benchbase.report.baselines import Baseline, WorkloadBaselines
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
        key.higher_is_better,
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
    """Run id -> the id of the first other loaded run (in start order) that ran on the same host while it did.

    Times are the records' ``started_at`` / ``ended_at`` (whole seconds); intervals that only touch do not overlap,
    so repeats run one after another never contend. A run without both times, or without a host, contends with none.
    Each host's runs are sorted by start once; the runs that started before a run ended are a prefix of that order,
    and the first of them still running when it started is found by bisecting the prefix's running maximum of end
    times, so a folder of N runs costs N log N, not N squared.
    """
    by_host: dict[str, list[tuple[Run, datetime, datetime]]] = {}
    for run in runs:
        if run.hostname and (start := _moment(run.started_at)) and (end := _moment(run.ended_at)):
            by_host.setdefault(run.hostname, []).append((run, start, end))
    contended: dict[str, str] = {}
    for spans in by_host.values():
        spans.sort(key=lambda span: span[1])
        starts = [start for _, start, _ in spans]
        latest_end = list(itertools.accumulate((end for _, _, end in spans), max))
        for run, start, end in spans:
            started_before_end = bisect.bisect_left(starts, end)
            index = bisect.bisect_right(latest_end, start, hi=started_before_end)
            while index < started_before_end:
                other, _, other_end = spans[index]
                if other.run_id != run.run_id and start < other_end:
                    contended[run.run_id] = other.run_id
                    break
                index += 1
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
        one_device: dict[tuple[object, ...], list[Run]] = {}
        for run in runs:
            if run.world_size == 1:
                one_device.setdefault(_scaling_key(GroupKey.of(run)), []).append(run)
        self._one_device = {key: WorkloadBaselines(candidates, self._unfit)
                            for key, candidates in one_device.items()}

    def _unfit(self, run: Run) -> str | None:
        return unfit(run, self._contended)

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
        workload = self._one_device.get(_scaling_key(group.key))
        if workload is None:
            return Scalability(formatting.not_available("no 1x1 run"), None, basis="no 1x1 run of this workload")
        baseline = workload.for_host(hosts.pop(), software.pop())
        if baseline.mean is None:
            why = "no comparable 1x1 run: " + ", ".join(f"{n} {reason}" for reason, n in baseline.rejected.items())
            return Scalability(formatting.not_available(why), None, basis=why)
        return _ratio(group.key.world_size, own, baseline)


#: The basis names the first this many baseline runs (by start); beyond them it says how many more there are, so the
#: basis of every row of a large folder stays one line rather than a list of thousands (docs/report-format.md). The
#: rest are found by the criteria the basis states: this workload's comparable 1x1 runs on its host and software.
BASIS_RUN_IDS = 10


def _ratio(devices: int, own: Sequence[Run], baseline: Baseline) -> Scalability:
    assert baseline.mean is not None and baseline.low is not None and baseline.high is not None
    mine = [run.p_train for run in own if run.p_train is not None]
    base = len(baseline.runs)
    value = statistics.fmean(mine) / (devices * baseline.mean)
    low, high = min(mine) / (devices * baseline.high), max(mine) / (devices * baseline.low)
    counts = f"{len(mine)} + {base} runs"
    text = formatting.ratio(value) + (
        f" ({counts})" if len(mine) == base == 1
        else f" ({formatting.ratio(low)}–{formatting.ratio(high)} from {counts})"
    )
    host = own[0].hostname
    ids = ", ".join(run.run_id for run in baseline.runs[:BASIS_RUN_IDS])
    if base > BASIS_RUN_IDS:
        ids += f" and {base - BASIS_RUN_IDS:,} more, in start order"
    basis = (f"{len(mine)} run(s) of this row against {base} comparable 1x1 run(s) ({ids}) on "
             f"{host}, same software; range {formatting.ratio(low)} to {formatting.ratio(high)}")
    return Scalability(text, value, low, high, basis)
