"""The report as data: one row per group of runs, its standard cells, numbers and detail, plus what was left out.

Renderers only lay this out; every number and every "n/a (why)" is decided here, once, so the terminal, Markdown,
JSON, CSV and HTML forms can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from benchbase.record import schema
from benchbase.record.target import bound_sign
from benchbase.report import columns, formatting
from benchbase.report.aggregate import GroupStats, Stat
from benchbase.report.detail import NO_COMPLETED_RUN, DetailItems, detail_items
from benchbase.report.efficiency import devices, efficiency_cells, efficiency_stats, no_power_reason
from benchbase.report.grouping import GroupKey, group_runs
from benchbase.report.loading import LoadResult, Skipped
from benchbase.report.marks import Marks, legend_lines
from benchbase.report.reference import ReferenceRow, load_references
from benchbase.report.run import DDP, Run
from benchbase.report.scaling import Scalability, Scaling

#: Machine-readable values of a row beside its group key, in the order CSV writes them (docs/report-format.md).
#: The means among them are those of the summary fields the schema marks ``mean``; a field the schema marks later
#: follows them in ``values`` (and the JSON report) without an edit here. Beside them, ``values`` holds
#: :data:`EXTRAS_VALUE`: the case's extras, whose names only the records know.
VALUE_NAMES: tuple[str, ...] = (
    "p_train",
    "final_metric",
    "power_w_per_device",
    "scalability",
    "peak_memory_gib_per_device",
    "stability",
    "runs_total",
    "runs_counted",
    "runs_converged",
    "runs_interrupted",
    "basis",
    "fps_e2e",
    "e2e_s",
    "p_whole",
    "p_core",
    "time_to_target_s",
    "mfu",
    "peak_flops_per_device",
    "energy_per_sample_j",
    "harness_cpu_share",
    "data_wait_s",
    "throughput_cv",
    "initial_metric",
    "steps",
    "samples",
    "repeat_group",
    "scalability_low",
    "scalability_high",
    "p_train_min",
    "p_train_max",
    "time_to_target_min_s",
    "time_to_target_max_s",
    "time_to_target_cv",
    "time_to_target_olympic_s",
    "device_memory_total_gib",
    "devices",
    "achieved_flops_per_device",
    "samples_per_joule",
    "contended",
    "power_too_few_samples",
    "official_clean",
    "verified",
    "verify_finding",
)
#: Key of ``values`` that maps each case extra's name to its mean final value (``None`` where no basis run has it).
EXTRAS_VALUE = "final_extras"


@dataclass(frozen=True)
class Row:
    """One group of runs as the standard table shows it."""

    stats: GroupStats
    cells: Mapping[str, str]
    values: Mapping[str, Any]
    #: The row's Scalability, and the case extras its detail shows.
    scalability: Scalability
    extra_names: tuple[str, ...]
    #: The efficiency table's cells (:data:`benchbase.report.columns.EFFICIENCY_COLUMNS`).
    efficiency: Mapping[str, str]
    #: The conditions its figures are marked for.
    marks: Marks
    #: With ``report --verify``: ``(run id, first finding)`` of the first run of the row that does not verify.
    unverified: tuple[str, str] | None = None

    @property
    def key(self) -> GroupKey:
        return self.stats.key

    @cached_property
    def detail(self) -> DetailItems:
        """The detail view's lines (``--detail``, and every JSON report), built the first time they are read: a
        table of thousands of rows without ``--detail`` never needs them."""
        return detail_items(self.stats, self.extra_names, self.scalability)

    @property
    def runs(self) -> tuple[Run, ...]:
        return self.stats.runs


@dataclass(frozen=True)
class Report:
    rows: tuple[Row, ...]
    references: tuple[ReferenceRow, ...]
    skipped: tuple[Skipped, ...]
    detail: bool
    generated_at: str

    @property
    def legend(self) -> tuple[str, ...]:
        """How to read a row (its identity and the units), the row markers that appear, then the published sources."""
        lines = list(columns.READING) if self.rows or self.references else []
        if self.rows:
            lines.extend(columns.EFFICIENCY_READING)
        if any(not row.key.official for row in self.rows):
            lines.append(f"{columns.UNOFFICIAL} {columns.LEGEND[columns.UNOFFICIAL]}")
        if any(row.key.official and row.marks.contended for row in self.rows):
            lines.append(f"{columns.CONTENDED_ROW} {columns.LEGEND[columns.CONTENDED_ROW]}")
        lines.extend(legend_lines(row.marks for row in self.rows))
        lines.extend(f"{columns.UNVERIFIED_ROW} {columns.LEGEND[columns.UNVERIFIED_ROW]} {run_id}: {finding}"
                     for row in self.rows if row.unverified for run_id, finding in [row.unverified])
        if self.references:
            lines.append(f"{columns.PUBLISHED} {columns.LEGEND[columns.PUBLISHED]}")
            sources = dict.fromkeys(
                f"{ref.vendor} {ref.device_model}: {ref.source} ({ref.source_location})" for ref in self.references
            )
            lines.extend(sources)
        return tuple(lines)


def build_report(
    result: LoadResult,
    reference: bool = False,
    detail: bool = False,
    reference_dir: Path | None = None,
    only_runs: Collection[str] | None = None,
    findings: Mapping[str, str | None] | None = None,
) -> Report:
    """Group, aggregate and format ``result``; add the published references when asked.

    ``only_runs`` (run ids) keeps the rows holding those runs, still computed against everything loaded: ``benchbase
    run`` prints its own rows with Scalability from the 1x1 runs recorded before it in the same folder. ``findings``
    (``report --verify``: run id -> its first finding, ``None`` when it verified) marks the rows it names.
    """
    groups = [GroupStats(key, runs, repeat_group) for key, repeat_group, runs in group_runs(result.runs)]
    if only_runs is not None:
        groups = [group for group in groups if any(run.run_id in only_runs for run in group.runs)]
    scaling = Scaling(result.runs)
    rows = tuple(build_row(group, scaling.cell(group)) for group in groups)
    if findings is not None:
        rows = tuple(mark_verification(row, findings) for row in rows)
    references: tuple[ReferenceRow, ...] = ()
    if reference:
        cases = {row.key.case for row in rows}
        references = tuple(ref for ref in load_references(reference_dir) if not cases or ref.case in cases)
    return Report(
        rows=rows,
        references=references,
        skipped=result.skipped,
        detail=detail,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def build_row(group: GroupStats, scaling: Scalability, extra_names: Sequence[str] | None = None) -> Row:
    """One row: standard cells, machine-readable values and detail of a group; ``extra_names`` are the case extras
    to show (default: those the group's runs recorded)."""
    names = group.extra_names if extra_names is None else tuple(extra_names)
    marks = Marks.of(group.runs)
    return Row(stats=group, cells=standard_cells(group, scaling, marks), values=_values(group, scaling, names, marks),
               scalability=scaling, extra_names=names, efficiency=efficiency_cells(group, marks), marks=marks)


def mark_verification(row: Row, findings: Mapping[str, str | None]) -> Row:
    """The row as ``report --verify`` shows it: ``verified`` true or false in its values and, when a run of it does
    not verify, :data:`benchbase.report.columns.UNVERIFIED_ROW` before its Configuration."""
    failed = next(((run.run_id, finding) for run in row.runs if (finding := findings.get(run.run_id))), None)
    values = {**row.values, "verified": failed is None, "verify_finding": failed[1] if failed else None}
    if failed is None:
        return replace(row, values=values)
    cells = {**row.cells, columns.CONFIGURATION: f"{columns.UNVERIFIED_ROW} {row.cells[columns.CONFIGURATION]}"}
    return replace(row, cells=cells, values=values, unverified=failed)


def identity(case: str, preset: str, vendor: str, device_model: str) -> str:
    """``cpm demo, cpu Intel Xeon Gold 6330``: what a row is, so a demo row beside a published CPM-medium row, or
    two vendors' rows, can never be taken for one another."""
    return f"{case} {preset}, {vendor} {device_model}"


def criteria(key: GroupKey) -> str:
    """The target as the seed table prints it (``0.91``); an upper bound is marked (``≤ 25.00``), so a
    lower-is-better row's target is never read as one the metric must rise to."""
    target = formatting.metric(key.target)
    return target if key.higher_is_better else f"{bound_sign(False)} {target}"


def batch(key: GroupKey) -> str:
    """``bs:32``, or ``bs:32 (16x2 per device)`` when accumulating: 16 x 2 and 32 x 1 train differently."""
    accumulation = key.global_batch // (key.per_device_batch * key.world_size)
    text = f"bs:{key.global_batch}"
    return text if accumulation <= 1 else f"{text} ({key.per_device_batch}x{accumulation} per device)"


def ranks(key: GroupKey) -> str:
    """``8x``, or ``8x fsdp`` when the ranks sharded the model: the same training, another memory need and speed."""
    return f"{key.world_size}x" if key.parallelism == DDP else f"{key.world_size}x {key.parallelism}"


def configuration(key: GroupKey, contended: bool = False) -> str:
    """``cpm official, iluvatar BI-V100: SDK V2.2, bs:128, 8x, AMP``: the row's identity, then the seed's
    configuration built from the record; unofficial rows carry the marker, and so do official rows measured on a
    ``contended`` host, which are no clean official result."""
    text = (f"{identity(key.case, key.preset, key.vendor, key.device_model)}: "
            f"{key.sdk}, {batch(key)}, {ranks(key)}, {key.precision}")
    if not key.official:
        return f"{columns.UNOFFICIAL} {text}"
    return f"{columns.CONTENDED_ROW} {text}" if contended else text


def published_cells(ref: ReferenceRow) -> dict[str, str]:
    """A published row's quoted cells, its Configuration marked and identified like ours, so it is never mistaken
    for a measurement nor for another row."""
    cells = dict(ref.cells)
    who = identity(ref.case, ref.preset, ref.vendor, ref.device_model)
    cells[columns.CONFIGURATION] = f"{columns.PUBLISHED} {who}: {cells[columns.CONFIGURATION]}"
    return cells


def standard_cells(group: GroupStats, scaling: Scalability, marks: Marks | None = None) -> dict[str, str]:
    """The eight cells of the standard table, their figures marked as :mod:`.marks` decides."""
    key = group.key
    marks = marks or Marks.of(group.runs)
    device_count = _devices(group)

    def cell(stat: Stat | None, show: Callable[[float], str], missing: str) -> str:
        if group.basis == "none":
            return NO_COMPLETED_RUN
        return show(stat.value) if stat else formatting.not_available(missing)

    stability = group.stability
    cells = {
        columns.CRITERIA: criteria(key),
        columns.CONFIGURATION: configuration(key, marks.contended),
        columns.PERFORMANCE: cell(group.mean("p_train"), formatting.throughput, "not measured"),
        columns.ACCURACY: cell(group.mean("final_metric"), formatting.metric, "no evaluation"),
        columns.POWER: cell(
            group.mean("power_w_per_device"),
            lambda watts: formatting.per_device(watts, device_count, 0),
            no_power_reason(group),
        ),
        columns.SCALABILITY: scaling.text,
        columns.MEMORY: cell(
            group.mean("peak_memory_gib_per_device"),
            lambda gib: _memory_text(gib, group.mean("device_memory_total_gib"), key.world_size),
            "not measured",
        ),
        columns.STABILITY: formatting.fraction(*stability) if stability else formatting.not_available(
            "every run interrupted"),
    }
    return {column: marks.apply(column, text) for column, text in cells.items()}


def _devices(group: GroupStats) -> int:
    """The physical devices the row's per-device figures are per (:func:`.efficiency.devices`); its world size when
    its runs disagree."""
    counts = {devices(run) for run in group.runs}
    return counts.pop() if len(counts) == 1 else group.key.world_size


def _memory_text(gib: float, total: Stat | None, devices: int) -> str:
    """``20.6/32.0*8``: peak over capacity per device, times the devices; published tables print either part
    (``20.6*8``, ``12.9/40``), so ours reads beside both. Without a known capacity: ``20.6*8``."""
    if total is None:
        return formatting.per_device(gib, devices, 1)
    return f"{formatting.fixed(gib, 1)}/{formatting.per_device(total.value, devices, 1)}"


#: The schema's fields as last seen by :func:`_means`, and the names a row averages of them.
_MEANS: list[Any] = [None, ()]


def _means() -> tuple[str, ...]:
    """:func:`schema.report_means`, worked out once per schema (the tuple of fields a new field is added to), not once
    per row: a report over thousands of runs has thousands of rows."""
    if _MEANS[0] is not schema.SUMMARY_FIELDS:
        _MEANS[:] = [schema.SUMMARY_FIELDS, schema.report_means()]
    return _MEANS[1]


def _values(group: GroupStats, scaling: Scalability, extra_names: Sequence[str], marks: Marks) -> dict[str, Any]:
    means = _means()
    values: dict[str, Any] = {}
    for name in means:
        stat = group.mean(name)
        values[name] = stat.value if stat else None
    converged, counted = group.stability or (0, 0)
    throughput, to_target = group.throughput_spread(), group.time_to_target_spread()
    values.update(
        repeat_group=group.repeat_group,
        scalability=scaling.value,
        scalability_low=scaling.low,
        scalability_high=scaling.high,
        p_train_min=throughput.low if throughput else None,
        p_train_max=throughput.high if throughput else None,
        time_to_target_min_s=to_target.low if to_target else None,
        time_to_target_max_s=to_target.high if to_target else None,
        time_to_target_cv=to_target.cv if to_target else None,
        time_to_target_olympic_s=group.olympic_time_to_target().value,
        stability=converged / counted if counted else None,
        runs_total=len(group.runs),
        runs_counted=counted,
        runs_converged=converged,
        runs_interrupted=len(group.interrupted),
        basis=group.basis,
        throughput_cv=group.throughput_cv(),
        devices=_devices(group),
        contended=marks.contended,
        power_too_few_samples=marks.few_samples,
        official_clean=group.key.official and not marks.contended,
        verified=None,  # unchecked unless ``report --verify`` (:func:`mark_verification`)
        verify_finding=None,
        **{name: stat.value if stat else None for name, stat in efficiency_stats(group).items() if name != "mfu"},
    )
    extras = {name: stat.value if (stat := group.mean_extra(name)) else None for name in extra_names}
    later = {name: values[name] for name in means if name not in VALUE_NAMES}
    return {**{name: values[name] for name in VALUE_NAMES}, **later, EXTRAS_VALUE: extras}
