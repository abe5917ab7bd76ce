"""Two runs or two groups side by side: every standard and detail metric, and the ratio b/a.

Each side must be one configuration (one group key): averaging runs of different configurations would compare
nothing in particular, so that is refused with the fix. Scalability is judged against the comparable 1x1 runs loaded
with the two sides, exactly as in the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchbase.errors import BenchbaseError
from benchbase.record.target import better_direction
from benchbase.report import columns
from benchbase.report.aggregate import GroupStats
from benchbase.report.detail import extra_label
from benchbase.report.grouping import GroupKey, group_runs
from benchbase.report.loading import LoadResult, load_runs
from benchbase.report.marks import legend_lines
from benchbase.report.run import Run
from benchbase.report.scaling import Scaling
from benchbase.report.table import EXTRAS_VALUE, Row, build_row

#: Line label -> (row value it is computed from, which direction is better).
_RATIO_OF: dict[str, tuple[str, str]] = {
    columns.PERFORMANCE: ("p_train", "higher"),
    columns.ACCURACY: ("final_metric", "higher"),  # the metric's own direction (_metric_direction)
    columns.POWER: ("power_w_per_device", "lower"),
    columns.SCALABILITY: ("scalability", "higher"),
    columns.MEMORY: ("peak_memory_gib_per_device", "lower"),
    columns.STABILITY: ("stability", "higher"),
    "FPS": ("fps_e2e", "higher"),
    "E2E": ("e2e_s", "lower"),
    "p_whole": ("p_whole", "higher"),
    "p_train": ("p_train", "higher"),
    "p_core": ("p_core", "higher"),
    "Time to target": ("time_to_target_s", "lower"),
    "Time to target (olympic)": ("time_to_target_olympic_s", "lower"),
    "MFU": ("mfu", "higher"),
    "Energy per sample": ("energy_per_sample_j", "lower"),
    "Peak memory": ("peak_memory_gib_per_device", "lower"),
    "Throughput CV": ("throughput_cv", "lower"),
    columns.TFLOPS: ("achieved_flops_per_device", "higher"),
    columns.SAMPLES_PER_JOULE: ("samples_per_joule", "higher"),
}


@dataclass(frozen=True)
class ComparisonLine:
    label: str
    a: str
    b: str
    #: b / a, when both sides have the number and a is not zero.
    ratio: float | None
    #: "higher" or "lower" (is better); "" for lines that are descriptions, and for case extras, whose direction
    #: (a loss falls, an accuracy rises) the records do not say.
    better: str
    #: The conditions each side's figure is marked for (:meth:`benchbase.report.marks.Marks.names`).
    a_marks: tuple[str, ...] = ()
    b_marks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    a_label: str
    b_label: str
    a_run_ids: tuple[str, ...]
    b_run_ids: tuple[str, ...]
    lines: tuple[ComparisonLine, ...]
    #: What the marks on the lines mean (one line per symbol used); empty when no figure is marked.
    legend: tuple[str, ...] = ()


def compare(a: Sequence[Run], b: Sequence[Run], context: Sequence[Run] = ()) -> Comparison:
    """Compare side ``a`` with side ``b``; ``context`` runs (e.g. everything loaded) supply 1x1 baselines."""
    key_a, key_b = _single_key(a, "A"), _single_key(b, "B")
    everyone = {run.run_id: run for run in (*context, *a, *b)}
    scaling = Scaling(everyone.values())
    # Both sides list the extras either side recorded, so each extra is one line with both values.
    extras = tuple(dict.fromkeys(name for run in (*a, *b) for name in run.final_extras))
    row_a, row_b = _side_row(key_a, a, scaling, extras), _side_row(key_b, b, scaling, extras)
    extra_of = {extra_label(name): name for name in extras}
    lines = [_line(column, row_a.cells[column], row_b.cells[column], row_a, row_b, extra_of)
             for column in columns.STANDARD_COLUMNS]
    detail_b = dict(row_b.detail)
    lines += [_line(label, text, detail_b.get(label, ""), row_a, row_b, extra_of) for label, text in row_a.detail]
    return Comparison(
        a_label=row_a.cells[columns.CONFIGURATION],
        b_label=row_b.cells[columns.CONFIGURATION],
        a_run_ids=tuple(run.run_id for run in a),
        b_run_ids=tuple(run.run_id for run in b),
        lines=tuple(lines),
        legend=legend_lines((row_a.marks, row_b.marks)),
    )


def compare_selected(result: LoadResult, a: str, b: str) -> Comparison:
    """``--compare A B``: each a run directory, a run id (or unique prefix), a repeat group, or ``#N`` (table row)."""
    return compare(select_runs(result, a), select_runs(result, b), context=result.runs)


def select_runs(result: LoadResult, selector: str) -> tuple[Run, ...]:
    """The runs a ``--compare`` argument names."""
    fix = "pass a run directory, a run id (or a unique prefix of one), a repeat group, or #N for the N-th table row"
    if selector.startswith("#") and selector[1:].isdigit():
        groups = [runs for _, _, runs in group_runs(result.runs)]
        number = int(selector[1:])
        if not 1 <= number <= len(groups):
            raise BenchbaseError(f"the table has {len(groups)} row(s), so {selector} names none", fix)
        return groups[number - 1]
    if Path(selector).exists():
        loaded = load_runs([Path(selector)])
        if not loaded.runs:
            reasons = "; ".join(f"{skip.path}: {skip.reason}" for skip in loaded.skipped) or "no run records"
            raise BenchbaseError(f"{selector} holds no usable run ({reasons})", fix)
        return loaded.runs
    exact = [run for run in result.runs if run.run_id == selector]
    if exact:
        return tuple(exact)
    repeats = [run for run in result.runs if run.repeat_group == selector]
    if repeats:
        return tuple(repeats)
    prefixed = [run for run in result.runs if run.run_id.startswith(selector)]
    if len(prefixed) == 1:
        return tuple(prefixed)
    if prefixed:
        raise BenchbaseError(f"{selector!r} is the start of {len(prefixed)} run ids", "give more of the run id")
    raise BenchbaseError(f"no run, repeat group or table row matches {selector!r}", fix)


def _side_row(key: GroupKey, runs: Sequence[Run], scaling: Scaling, extra_names: Sequence[str]) -> Row:
    """The side's own row: its means and scalability are over the side's runs, not every loaded run of its key."""
    groups = {run.repeat_group for run in runs}
    side = GroupStats(key, tuple(runs), groups.pop() if len(groups) == 1 else None)
    return build_row(side, scaling.cell(side), extra_names)


def _single_key(runs: Sequence[Run], side: str) -> GroupKey:
    if not runs:
        raise BenchbaseError(f"side {side} of the comparison has no runs", "name at least one run")
    keys = {GroupKey.of(run) for run in runs}
    if len(keys) > 1:
        raise BenchbaseError(
            f"side {side} holds runs of {len(keys)} different configurations",
            "compare one run, one repeat group or one table row (#N) per side",
        )
    return keys.pop()


def _line(
    label: str, a_text: str, b_text: str, row_a: Row, row_b: Row, extra_of: Mapping[str, str]
) -> ComparisonLine:
    """``extra_of`` maps the label of each case extra's line to the extra's name."""
    if label in extra_of:
        better = ""
        value_a, value_b = (row.values[EXTRAS_VALUE][extra_of[label]] for row in (row_a, row_b))
    else:
        name, better = _RATIO_OF.get(label, ("", ""))
        value_a, value_b = (row_a.values[name], row_b.values[name]) if name else (None, None)
    if label == columns.ACCURACY:
        better = _metric_direction(row_a, row_b)
    ratio = value_b / value_a if value_a is not None and value_b is not None and value_a != 0 else None
    return ComparisonLine(label=label, a=a_text, b=b_text, ratio=ratio, better=better,
                          a_marks=row_a.marks.names(label), b_marks=row_b.marks.names(label))


def _metric_direction(row_a: Row, row_b: Row) -> str:
    """Which way the Accuracy line is better: the metric's own direction, or "" when the two sides' metrics
    disagree (two cases compared by their final metric have no common better)."""
    if row_a.key.higher_is_better != row_b.key.higher_is_better:
        return ""
    return better_direction(row_a.key.higher_is_better)
