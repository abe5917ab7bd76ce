"""The detail view of one row (``--detail``): every number behind the standard cells, and how it was obtained.

It answers the questions a standard cell raises: which runs the means cover, which runs were excluded and why,
how wide the throughput spread is, what peak the MFU was computed against, and the seed's FPS/E2E figures.
Below the metric come the case's own extras (e.g. CPM's token accuracy), one line per extra its runs recorded:
the report knows no case, so it shows whatever the records hold, named as the case names it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from benchbase.report import formatting
from benchbase.report.aggregate import GroupStats, Stat
from benchbase.report.columns import STANDARD_COLUMNS
from benchbase.report.run import FINAL_STATUSES

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
)
NO_COMPLETED_RUN = formatting.not_available("no completed run")
#: Labels a case extra's label must not take: the other detail lines and the standard columns, which a comparison
#: lists beside them.
_TAKEN_LABELS = frozenset(
    {"Criteria", "Hardware", "Case", *(label for label, *_ in _MEANS), "MFU", "Throughput CV", "Metric",
     "Steps / samples", "Runs", "Means over", "Run ids", "Notes", *STANDARD_COLUMNS}
)


def extra_label(name: str) -> str:
    """``eval_loss`` -> ``Eval loss``; an extra named like another line (``metric``) is marked as an
    extra, so a comparison, which pairs lines by label, never mixes the two."""
    words = name.replace("_", " ")
    label = words[:1].upper() + words[1:]
    return f"{label} (case extra)" if label in _TAKEN_LABELS else label


def detail_items(stats: GroupStats, extra_names: Sequence[str] | None = None) -> DetailItems:
    """Label/text pairs, in reading order; one line per case extra in ``extra_names`` (default: the group's own,
    a comparison passes both sides' so their lines pair up)."""
    key = stats.key
    means = {label: _mean_text(stats, attribute, show, missing) for label, attribute, show, missing in _MEANS}
    items: list[tuple[str, str]] = [
        ("Criteria", f"{key.metric_name} ≥ {formatting.metric(key.target)}"),
        ("Hardware", f"{key.device_model} ({key.vendor}), {key.topology} = {key.world_size} device(s)"),
        ("Case", f"{key.case} / {key.preset}" + ("" if key.official else " (unofficial)")),
        *((label, means[label]) for label in ("FPS", "E2E", "p_whole", "p_train", "p_core", "Time to target")),
        ("MFU", _mfu_text(stats)),
        *((label, means[label]) for label in ("Energy per sample", "Peak memory")),
        ("Throughput CV", _cv_text(stats)),
        ("Metric", _metric_text(stats)),
        *((extra_label(name), _extra_text(stats, name)) for name in
          (stats.extra_names if extra_names is None else extra_names)),
        ("Steps / samples", _steps_text(stats)),
        ("Runs", _run_counts(stats)),
        ("Means over", _basis_text(stats)),
        ("Run ids", ", ".join(
            run.run_id + (" (interrupted, excluded)" if run.status == "interrupted" else "") for run in stats.runs)),
    ]
    notes = [f"{run.run_id}: {note}" for run in stats.runs for note in run.notes]
    if notes:
        items.append(("Notes", "; ".join(notes)))
    return tuple(items)


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
    return f"{formatting.percent(mfu.value)} of {formatting.flops(peak.value)} per device{_coverage(mfu)}"


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
    counted = ", ".join(f"{statuses[status]} {status}" for status in FINAL_STATUSES if statuses[status])
    text = f"{len(stats.counted)} counted: {counted}" if stats.counted else "none counted"
    if stats.interrupted:
        text += f"; {len(stats.interrupted)} interrupted (excluded from stability and means)"
    return text


def _basis_text(stats: GroupStats) -> str:
    if stats.basis == "converged":
        return f"the {len(stats.converged)} converged run(s)"
    if stats.basis == "completed":
        return f"the {len(stats.completed)} completed run(s); none converged"
    return "no run completed: no means"
