"""The detail view of one row (``--detail``): every number behind the standard cells, and how it was obtained.

It answers the questions a standard cell raises: which runs the means cover, which runs were excluded and why,
how wide the throughput spread is, what peak the MFU was computed against, and the seed's FPS/E2E figures.
"""

from __future__ import annotations

from collections import Counter

from benchbase.report import formatting
from benchbase.report.aggregate import GroupStats, Stat
from benchbase.report.run import FINAL_STATUSES

DetailItems = tuple[tuple[str, str], ...]


def detail_items(stats: GroupStats) -> DetailItems:
    """Label/text pairs, in reading order."""
    key = stats.key

    def stat(attribute: str, show, missing: str) -> str:
        value = stats.mean(attribute)
        if stats.basis == "none":
            return formatting.not_available("no completed run")
        if value is None:
            return formatting.not_available(missing)
        return show(value.value) + _coverage(value)

    mfu = stats.mean("mfu")
    peak = stats.mean("peak_flops_per_device")
    if stats.basis == "none":
        mfu_text = formatting.not_available("no completed run")
    elif mfu is None or peak is None:
        mfu_text = formatting.not_available("the vendor declares no peak FLOP/s")
    else:
        mfu_text = f"{formatting.percent(mfu.value)} of {formatting.flops(peak.value)} per device{_coverage(mfu)}"
    cv = stats.throughput_cv()
    initial, final = stats.mean("initial_metric"), stats.mean("final_metric")
    steps, samples = stats.mean("steps"), stats.mean("samples")
    items: list[tuple[str, str]] = [
        ("Criteria", f"{key.metric_name} ≥ {formatting.metric(key.target)}"),
        ("Hardware", f"{key.device_model} ({key.vendor}), {key.topology} = {key.world_size} device(s)"),
        ("Case", f"{key.case} / {key.preset}" + ("" if key.official else " (unofficial)")),
        ("FPS", stat("fps_e2e", lambda v: formatting.fixed(v, 2), "not measured")),
        ("E2E", stat("e2e_s", formatting.seconds, "not measured")),
        ("p_whole", stat("p_whole", _samples_per_s, "not measured")),
        ("p_train", stat("p_train", _samples_per_s, "not measured")),
        ("p_core", stat("p_core", _samples_per_s, "not measured")),
        ("Time to target", stat("time_to_target_s", formatting.seconds, "target not reached")),
        ("MFU", mfu_text),
        ("Energy per sample", stat("energy_per_sample_j", lambda v: f"{formatting.significant(v)} J", "no power data")),
        ("Peak memory", stat("peak_memory_gib_per_device", lambda v: f"{formatting.fixed(v, 1)} GiB per device",
                             "not measured")),
        ("Throughput CV", formatting.percent(cv) if cv is not None else formatting.not_available(
            f"{len(stats.completed)} completed run(s), needs 2")),
        ("Metric", _metric_path(initial, final) if stats.basis != "none" else formatting.not_available(
            "no completed run")),
        ("Token accuracy", stat("final_token_accuracy", formatting.metric, "not recorded")),
        ("Steps / samples", f"{formatting.count(steps.value)} / {formatting.count(samples.value)}"
         if steps and samples else formatting.not_available("not recorded")),
        ("Runs", _run_counts(stats)),
        ("Means over", _basis_text(stats)),
        ("Run ids", ", ".join(
            run.run_id + (" (interrupted, excluded)" if run.status == "interrupted" else "") for run in stats.runs)),
    ]
    notes = [f"{run.run_id}: {note}" for run in stats.runs for note in run.notes]
    if notes:
        items.append(("Notes", "; ".join(notes)))
    return tuple(items)


def _samples_per_s(value: float) -> str:
    return f"{formatting.throughput(value)} samples/s"


def _coverage(value: Stat) -> str:
    """Say so when only some of the basis runs measured a quantity."""
    return f" ({value.n} of {value.of} runs)" if value.partial else ""


def _metric_path(initial: Stat | None, final: Stat | None) -> str:
    start = formatting.metric(initial.value) if initial else "n/a"
    end = formatting.metric(final.value) if final else "n/a"
    return f"{start} → {end} (before training → at stop)"


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
