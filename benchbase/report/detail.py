"""The detail view of one row (``--detail``): every number behind the standard cells, and how it was obtained.

It answers the questions a standard cell raises: which runs the means cover, which runs were excluded and why,
how wide the spread of throughput and time to target is over the repeats (and MLPerf's olympic time to target),
which seeds they ran with, which 1x1 runs the Scalability rests on or why there are none, what peak the MFU was
computed against, and the seed's FPS/E2E figures.
Below the metric come the case's own extras (e.g. CPM's token accuracy), one line per extra its runs recorded:
the report knows no case, so it shows whatever the records hold, named as the case names it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from benchbase.record.schema import DIVERGED, FINAL_STATUSES, INTERRUPTED
from benchbase.record.target import bound_sign
from benchbase.report import formatting
from benchbase.report.aggregate import GroupStats, Spread, Stat
from benchbase.report.columns import EFFICIENCY_COLUMNS, SAMPLES_PER_JOULE, STANDARD_COLUMNS, TFLOPS
from benchbase.report.efficiency import NO_COMPLETED_RUN, efficiency_cells
from benchbase.report.marks import Marks
from benchbase.report.provenance_detail import provenance_items
from benchbase.report.scaling import Scalability

DetailItems = tuple[tuple[str, str], ...]

#: Label, Run attribute averaged over the basis runs, how to print it, why it can be missing.
_MEANS: tuple[tuple[str, str, Callable[[float], str], str], ...] = (
    ("FPS", "fps_e2e", lambda value: formatting.fixed(value, 2), "not measured"),
    ("E2E", "e2e_s", formatting.seconds, "not measured"),
    ("p_whole", "p_whole", lambda value: f"{formatting.throughput(value)} samples/s", "not measured"),
    ("p_train", "p_train", lambda value: f"{formatting.throughput(value)} samples/s", "not measured"),
    ("p_core", "p_core", lambda value: f"{formatting.throughput(value)} samples/s", "not measured"),
    ("Time to target", "time_to_target_s", formatting.seconds, "target not reached"),
    ("Energy per sample", "energy_per_sample_j", lambda value: f"{formatting.significant(value)} J", "no power data"),
    ("Peak memory", "peak_memory_gib_per_device", lambda value: f"{formatting.fixed(value, 1)} GiB per device",
     "not measured"),
    ("Harness CPU", "harness_cpu_share", lambda value: f"{formatting.percent(value, 2)} of the train window",
     "not measured"),
    ("Data wait", "data_wait_s", formatting.seconds, "not measured"),
)
#: Labels a case extra's label must not take: the other detail lines and the standard columns, which a comparison
#: lists beside them.
_TAKEN_LABELS = frozenset(
    {"Criteria", "Hardware", "Case", *(label for label, *_ in _MEANS), "MFU", "Throughput CV", "Metric",
     "Steps / samples", "Runs", "Means over", "Run ids", "Notes", *STANDARD_COLUMNS, "Throughput range",
     "Time to target range", "Time to target (olympic)", "Seeds", "Repeat group", "Host", "Scalability basis",
     "Threads", "Libraries", "Code", "Job", *EFFICIENCY_COLUMNS}
)


def extra_label(name: str) -> str:
    """``eval_loss`` -> ``Eval loss``; an extra named like another line (``metric``) is marked as an
    extra, so a comparison, which pairs lines by label, never mixes the two."""
    words = name.replace("_", " ")
    label = words[:1].upper() + words[1:]
    return f"{label} (case extra)" if label in _TAKEN_LABELS else label


def detail_items(
    stats: GroupStats, extra_names: Sequence[str] | None = None, scaling: Scalability | None = None
) -> DetailItems:
    """Label/text pairs, in reading order; one line per case extra in ``extra_names`` (default: the group's own,
    a comparison passes both sides' so their lines pair up); ``scaling`` is the row's Scalability, whose basis
    is stated."""
    key = stats.key
    marks = Marks.of(stats.runs)
    means = {label: _mean_text(stats, attribute, show, missing) for label, attribute, show, missing in _MEANS}
    efficiency = efficiency_cells(stats, Marks())
    items: list[tuple[str, str]] = [
        ("Criteria", f"{key.metric_name} {bound_sign(key.higher_is_better)} {formatting.metric(key.target)}"),
        ("Hardware", f"{key.device_model} ({key.vendor}), {key.topology} = {key.world_size} device(s)"),
        ("Case", f"{key.case} / {key.preset}" + _verdict(key.official, marks)),
        ("Repeat group", f"{stats.repeat_group} ({len(stats.runs)} run(s))" if stats.repeat_group
         else "none (a run made alone)"),
        ("Seeds", ", ".join("n/a" if run.seed is None else str(run.seed) for run in stats.runs)),
        ("Host", _host_text(stats)),
        ("Threads", _threads_text(stats)),
        *((label, means[label]) for label in ("FPS", "E2E", "p_whole", "p_train", "p_core", "Time to target")),
        ("Time to target range", _range_text(stats.time_to_target_spread(), formatting.seconds, "converged")),
        ("Time to target (olympic)", _olympic_text(stats)),
        ("MFU", _mfu_text(stats)),
        (TFLOPS, efficiency[TFLOPS]),
        (SAMPLES_PER_JOULE, efficiency[SAMPLES_PER_JOULE]),
        *((label, means[label]) for label in ("Energy per sample", "Peak memory", "Harness CPU", "Data wait")),
        ("Throughput range", _range_text(stats.throughput_spread(),
                                         lambda value: f"{formatting.throughput(value)} samples/s", "completed")),
        ("Throughput CV", _cv_text(stats)),
        *((("Scalability basis", scaling.basis),) if scaling is not None else ()),
        ("Metric", _metric_text(stats)),
        *((extra_label(name), _extra_text(stats, name)) for name in
          (stats.extra_names if extra_names is None else extra_names)),
        ("Steps / samples", _steps_text(stats)),
        ("Runs", _run_counts(stats)),
        ("Means over", _basis_text(stats)),
        ("Run ids", ", ".join(run.run_id + _exclusion(run.status) for run in stats.runs)),
        *provenance_items(stats),
    ]
    notes = [f"{run.run_id}: {note}" for run in stats.runs for note in run.notes]
    if notes:
        items.append(("Notes", "; ".join(notes)))
    return tuple((label, marks.apply(label, text)) for label, text in items)


def _verdict(official: bool, marks: Marks) -> str:
    """An official configuration is a clean official result only when no run of it fought for CPUs."""
    if not official:
        return " (unofficial)"
    return " (official configuration; contended, so not a clean official result)" if marks.contended else ""


def _threads_text(stats: GroupStats) -> str:
    """The intra-op threads each rank ran with under the core's policy (the CPUs of its binding), and what it
    actually used where its vendor changed that: 1x1 and 1xN rows are comparable only under one policy."""
    texts = []
    for run in stats.runs:
        policy, used = run.threads_policy, run.threads_used
        if not policy or not used:
            continue
        counts = sorted(set(policy.values()))
        text = "/".join(str(int(count)) for count in counts) + " per rank by the core's policy"
        if used != policy:
            text += "; used " + ", ".join(f"rank {rank}: {int(count)}" for rank, count in used.items())
        texts.append(text)
    return "; ".join(dict.fromkeys(texts)) if texts else formatting.not_available("not recorded")


def _mean_text(stats: GroupStats, attribute: str, show: Callable[[float], str], missing: str) -> str:
    if stats.basis == "none":
        return NO_COMPLETED_RUN
    value = stats.mean(attribute)
    return show(value.value) + _coverage(value) if value else formatting.not_available(missing)


def _extra_text(stats: GroupStats, name: str) -> str:
    """The mean final value of a case extra with the metric's 2 to 4 decimals, which suit a score and a loss alike."""
    if stats.basis == "none":
        return NO_COMPLETED_RUN
    value = stats.mean_extra(name)
    return formatting.metric(value.value) + _coverage(value) if value else formatting.not_available("not recorded")


def _coverage(value: Stat) -> str:
    """Say so when only some of the basis runs measured a quantity."""
    return f" ({value.n} of {value.of} runs)" if value.partial else ""


def _mfu_text(stats: GroupStats) -> str:
    """MFU with the peak it was computed against, so two vendors' MFUs can be checked for the same dtype."""
    if stats.basis == "none":
        return NO_COMPLETED_RUN
    mfu, peak = stats.mean("mfu"), stats.mean("peak_flops_per_device")
    if mfu is None or peak is None:
        return formatting.not_available("the vendor declares no peak FLOP/s")
    share = formatting.significant(mfu.value * 100)
    return f"{share}% of {formatting.flops(peak.value)} per device{_coverage(mfu)}"


def _range_text(found: Spread | None, show: Callable[[float], str], runs: str) -> str:
    """``45.1 to 49.0 samples/s over 3 completed runs (CV 3.2%)``."""
    if found is None:
        return formatting.not_available(f"no {runs} run")
    if found.n == 1:
        return f"{show(found.low)} (1 {runs} run)"
    cv = f" (CV {formatting.percent(found.cv)})" if found.cv is not None else ""
    return f"{show(found.low)} to {show(found.high)} over {found.n} {runs} runs{cv}"


def _olympic_text(stats: GroupStats) -> str:
    """MLPerf's aggregate, labelled with what it dropped so it is never read as a plain mean."""
    olympic = stats.olympic_time_to_target()
    if olympic.value is None:
        return formatting.not_available(olympic.reason or "not computed")
    return (f"{formatting.seconds(olympic.value)}: mean of {olympic.used} of {olympic.of} runs, "
            "fastest and slowest dropped (MLPerf)")


def _host_text(stats: GroupStats) -> str:
    """Where the runs ran, how many threads met how many CPUs and how much CPU time others took: Scalability needs
    one host, no oversubscription and no contention."""
    hosts = dict.fromkeys(run.hostname for run in stats.runs if run.hostname)
    if not hosts:
        return formatting.not_available("not recorded")
    loads = list(dict.fromkeys(f"{run.host_threads} threads on {run.host_cpus} CPUs"
                               + (" (oversubscribed)" if run.oversubscribed else "")
                               for run in stats.runs if run.host_cpus is not None))
    shares = [run.others_cpu_share for run in stats.runs if run.others_cpu_share is not None]
    if shares:
        loads.append(f"other processes used up to {formatting.percent(max(shares), 0)} of the CPUs while training")
    return f"{', '.join(hosts)}: {'; '.join(loads)}"


def _cv_text(stats: GroupStats) -> str:
    cv = stats.throughput_cv()
    if cv is None:
        return formatting.not_available(f"{len(stats.completed)} completed run(s), needs 2")
    return formatting.percent(cv)


def _metric_text(stats: GroupStats) -> str:
    if stats.basis == "none":
        return NO_COMPLETED_RUN
    initial, final = stats.mean("initial_metric"), stats.mean("final_metric")
    start = formatting.metric(initial.value) if initial else "n/a"
    end = formatting.metric(final.value) if final else "n/a"
    return f"{start} → {end} (before training → at stop)"


def _steps_text(stats: GroupStats) -> str:
    steps, samples = stats.mean("steps"), stats.mean("samples")
    if steps is None or samples is None:
        return formatting.not_available("not recorded")
    return f"{formatting.count(steps.value)} / {formatting.count(samples.value)}"


def _run_counts(stats: GroupStats) -> str:
    statuses = Counter(run.status for run in stats.counted)
    counted = ", ".join(f"{statuses[status]} {status}{_RUN_COUNT_NOTES.get(status, '')}"
                        for status in FINAL_STATUSES if statuses[status])
    text = f"{len(stats.counted)} counted: {counted}" if stats.counted else "none counted"
    if stats.interrupted:
        text += f"; {len(stats.interrupted)} interrupted (excluded from stability and means)"
    return text


#: Why a status's runs are counted as they are, where it is not plain.
_RUN_COUNT_NOTES = {DIVERGED: " (non-finite training loss: counted as not converged, no throughput figure)"}


def _exclusion(status: str) -> str:
    """What a run's status keeps it out of, beside its id."""
    if status == INTERRUPTED:
        return " (interrupted, excluded)"
    if status == DIVERGED:
        return " (diverged, no throughput figure)"
    return ""


def _basis_text(stats: GroupStats) -> str:
    if stats.basis == "converged":
        return f"the {len(stats.converged)} converged run(s)"
    if stats.basis == "completed":
        return f"the {len(stats.completed)} completed run(s); none converged"
    return "no run completed: no means"
