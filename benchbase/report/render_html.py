"""HTML: one self-contained file (inline CSS, inline SVG, no scripts, nothing fetched) with the table and plots.

A reader opens it offline, mails it, or attaches it to a submission; it must look the same everywhere and never
reach the network, so the page carries its own styles and charts (:mod:`.svg`) and uses only local system fonts.
Per run it plots loss and metric over steps, samples/s over steps, and power, memory and utilisation per device over
time since launch (where the record's clock starts, so nothing is drawn at negative times) with the train window
shaded and evaluations marked, read from the run's ``events.jsonl`` and ``telemetry.csv``.
The case's evaluation extras are plotted whatever their names: those that stay within 0 to 1 (accuracies) beside the
metric on its score axis, any other (an evaluation loss) on a plot of its own, where its scale cannot flatten the
metric's curve.

Plots cost: each plotted run's logs are read and about 20 KB of SVG is written, so a folder of 10,000 runs made a
page of 188 MB that no browser opens quickly. The page therefore plots the :data:`DEFAULT_PLOTS` most recently
started runs (``--plots N`` or ``--plots all`` to change it) and lists the others with their facts, saying so
where the runs begin (docs/report-format.md, "Plots of many runs").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from benchbase.record import schema
from benchbase.record.target import bound_sign, higher_is_better
from benchbase.report import formatting, svg
from benchbase.report.svg import escape
from benchbase.report.columns import (
    CONFIGURATION, CONTENDED_ROW, EFFICIENCY_COLUMNS, NUMERIC_COLUMNS, PUBLISHED, STANDARD_COLUMNS, UNITS, UNOFFICIAL,
    UNVERIFIED_ROW,
)
from benchbase.report.marks import Marks
from benchbase.report.grouping import GroupKey
from benchbase.report.run import Run
from benchbase.report.series import RunSeries, read_series
from benchbase.report.table import Report, Row, batch, published_cells

_TRAIN = "#0072B2"
_EVAL = "#E69F00"
_STATUS_CLASS = {
    schema.CONVERGED: "ok",
    schema.NOT_CONVERGED: "warn",
    schema.FAILED: "bad",
    schema.TIMEOUT: "bad",
    schema.DIVERGED: "bad",
    schema.INTERRUPTED: "muted",
}

_CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --card:#ffffff; --bg:#f2f4f8; --accent:#0b4f8a; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, sans-serif; }
header.top { background: linear-gradient(120deg, #0d2238 0%, #123b63 55%, #0b4f8a 100%); color:#fff;
  padding: 28px 40px 24px; }
header.top h1 { margin:0; font-size:26px; font-weight:650; letter-spacing:.2px; }
header.top .sub { margin-top:6px; color:#c9d8ea; font-size:13px; }
header.top .chips { margin-top:14px; display:flex; gap:10px; flex-wrap:wrap; }
.chip { background:rgba(255,255,255,.12); border:1px solid rgba(255,255,255,.22); border-radius:999px;
  padding:3px 12px; font-size:12.5px; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 24px 48px; }
section.card, article.run { background:var(--card); border-radius:12px; padding:20px 22px; margin-bottom:22px;
  box-shadow: 0 1px 2px rgba(16,24,40,.06), 0 1px 3px rgba(16,24,40,.08); }
h2 { font-size:18px; margin:0 0 14px; font-weight:620; }
h3 { font-size:15px; margin:0; font-weight:600; }
table { border-collapse:collapse; width:100%; }
table.std th { text-align:left; font-size:12px; text-transform:none; color:var(--muted); font-weight:600;
  border-bottom:2px solid var(--line); padding:8px 10px; white-space:nowrap; }
table.std td { padding:9px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
table.std td.num, table.std th.num { text-align:right; font-variant-numeric: tabular-nums; }
table.std tr:nth-child(even) td { background:#fafbfc; }
table.std tr.published td { background:#fdf8ec; font-style:italic; color:#4b4636; }
table.std td.na { color:#9aa5b1; font-size:12.5px; }
table.std td.config { min-width:340px; }
table.std td.rowno a { color:var(--accent); text-decoration:none; font-weight:600; }
.badge { display:inline-block; border-radius:6px; padding:1px 7px; font-size:11.5px; font-weight:600;
  font-style:normal; margin-right:6px; vertical-align:1px; }
.badge.unofficial { background:#fff1d6; color:#8a5300; border:1px solid #f5c76b; }
.badge.contended { background:#fde4e4; color:#9b1c1c; border:1px solid #f3a6a6; }
.badge.unverified { background:#9b1c1c; color:#ffffff; border:1px solid #7a1414; }
.badge.published { background:#eef2f7; color:#3e4c59; border:1px solid #cbd2d9; }
.badge.ok { background:#e3f6ec; color:#11643a; } .badge.warn { background:#fff4d6; color:#7a5200; }
.badge.bad { background:#fde4e4; color:#9b1c1c; } .badge.muted { background:#eceff3; color:#52606d; }
ul.legend { margin:12px 0 0; padding-left:18px; color:var(--muted); font-size:12.5px; }
.details { display:grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap:16px; }
.details .box { border:1px solid var(--line); border-radius:10px; padding:12px 14px; }
.details h3 { font-size:13.5px; margin-bottom:8px; }
table.kv td { padding:3px 6px; border-bottom:1px solid #f0f2f5; font-size:12.5px; vertical-align:top;
  overflow-wrap:anywhere; }
table.kv td:first-child { color:var(--muted); white-space:nowrap; width:1%; }
table.skipped td { padding:6px 8px; border-bottom:1px solid var(--line); font-size:12.5px; }
table.skipped td:first-child { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  color:#9b1c1c; word-break:break-all; }
.group-title { margin: 30px 0 12px; font-size:17px; font-weight:620; }
.group-title small { color:var(--muted); font-weight:400; }
article.run header { display:flex; align-items:baseline; gap:10px; flex-wrap:wrap; margin-bottom:6px; }
article.run .id { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size:13.5px;
  font-weight:600; }
article.run .facts { color:var(--muted); font-size:12.5px; margin-bottom:12px; }
.plots { display:grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap:14px; }
.plots svg.chart { width:100%; height:auto; border:1px solid var(--line); border-radius:10px; }
.problems { margin:10px 0 0; color:#8a5300; font-size:12.5px; }
.noplots, p.note { color:var(--muted); font-size:12.5px; }
footer { color:var(--muted); font-size:12px; text-align:center; padding-bottom:30px; }
"""


#: The runs whose plots a page draws unless told otherwise: a page of this many plotted runs is about 20 MB.
DEFAULT_PLOTS = 1000


def render_html(report: Report, plots: int | None = DEFAULT_PLOTS) -> str:
    return "".join(html_chunks(report, plots))


def html_chunks(report: Report, plots: int | None = DEFAULT_PLOTS) -> Iterator[str]:
    """The page in pieces, a run's article at a time: a page of thousands of runs is tens of megabytes, which a
    writer takes piece by piece instead of holding it whole (and again joined, and again encoded). ``plots`` is how
    many runs are plotted, the most recently started first (``None``: all of them)."""
    runs = [run for row in report.rows for run in row.runs]
    plotted = _plotted(runs, plots)
    chips = [f"{len(runs)} run(s)", f"{len(report.rows)} row(s)"]
    if len(plotted) < len(runs):
        chips.append(f"plots for {len(plotted)} of {len(runs)} runs")
    if report.references:
        chips.append(f"{len(report.references)} published reference row(s)")
    if report.skipped:
        chips.append(f"{len(report.skipped)} skipped")
    yield (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>benchbase report</title><style>{_CSS}</style></head><body>"
    )
    yield '<header class="top"><h1>benchbase report</h1>'
    yield (f'<div class="sub">Generated {escape(report.generated_at)} · training throughput, accuracy, power and '
           "memory per configuration</div>")
    yield '<div class="chips">' + "".join(f'<span class="chip">{escape(chip)}</span>' for chip in chips) + "</div>"
    yield "</header><main>"
    yield _standard_table(report)
    if report.rows:
        yield _efficiency_table(report)
    if report.detail:
        yield _detail_section(report)
    if report.skipped:
        yield _skipped_section(report)
    if len(plotted) < len(runs):
        yield _plots_note(len(plotted), len(runs), plots)
    for number, row in enumerate(report.rows, start=1):
        yield from _row_runs(number, row, plotted)
    yield "</main><footer>benchbase · self-contained report: inline styles and SVG, no scripts</footer>"
    yield "</body></html>\n"


def _standard_table(report: Report) -> str:
    head = "".join(
        f'<th class="{"num" if column in NUMERIC_COLUMNS else ""}">{escape(column)}'
        + (f'<br><small>{escape(UNITS[column])}</small>' if column in UNITS else "") + "</th>"
        for column in STANDARD_COLUMNS
    )
    lines = [f'<section class="card"><h2>Standard table</h2><table class="std"><thead><tr><th>#</th>{head}</tr>'
             "</thead><tbody>"]
    for number, row in enumerate(report.rows, start=1):
        lines.append(f'<tr><td class="rowno"><a href="#row-{number}">{number}</a></td>{_cells(row.cells)}</tr>')
    for ref in report.references:
        lines.append(f'<tr class="published"><td></td>{_cells(published_cells(ref))}</tr>')
    if not report.rows and not report.references:
        lines.append(f'<tr><td colspan="{len(STANDARD_COLUMNS) + 1}">No usable run records.</td></tr>')
    lines.append("</tbody></table>")
    if report.legend:
        lines.append('<ul class="legend">' + "".join(f"<li>{escape(line)}</li>" for line in report.legend) + "</ul>")
    lines.append("</section>")
    return "".join(lines)


def _efficiency_table(report: Report) -> str:
    """The second table, under the standard one: each row's efficiency figures (its legend is the standard one's)."""
    head = f"<th>{escape(CONFIGURATION)}</th>" + "".join(
        f'<th class="num">{escape(column)}</th>' for column in EFFICIENCY_COLUMNS)
    lines = [f'<section class="card"><h2>Efficiency</h2><table class="std"><thead><tr><th>#</th>{head}</tr>'
             "</thead><tbody>"]
    for number, row in enumerate(report.rows, start=1):
        cells = "".join(
            f'<td class="num{" na" if row.efficiency[column].startswith("n/a") else ""}">'
            f"{escape(row.efficiency[column])}</td>" for column in EFFICIENCY_COLUMNS)
        lines.append(f'<tr><td class="rowno">{number}</td><td class="config">{_marked(row.cells[CONFIGURATION])}</td>{cells}</tr>')
    lines.append("</tbody></table></section>")
    return "".join(lines)


def _cells(cells: Mapping[str, str]) -> str:
    out = []
    for column in STANDARD_COLUMNS:
        text = cells[column]
        classes = ["num"] if column in NUMERIC_COLUMNS else ["config"]
        if text.startswith("n/a"):
            classes.append("na")
        out.append(f'<td class="{" ".join(classes)}">{_marked(text)}</td>')
    return "".join(out)


def _marked(text: str) -> str:
    """Row markers become badges; the rest of the cell stays text."""
    badges = []
    markers = ((UNVERIFIED_ROW, "unverified"), (UNOFFICIAL, "unofficial"), (PUBLISHED, "published"),
               (CONTENDED_ROW, "contended"))
    for marker, css in markers:
        if text.startswith(marker + " "):
            badges.append(f'<span class="badge {css}">{escape(marker.strip("[]"))}</span>')
            text = text[len(marker) + 1:]
    return "".join(badges) + escape(text)


def _kv(items: Iterable[tuple[str, str]]) -> str:
    return '<table class="kv">' + "".join(
        f"<tr><td>{escape(label)}</td><td>{escape(text)}</td></tr>" for label, text in items
    ) + "</table>"


def _detail_section(report: Report) -> str:
    boxes = [
        f'<div class="box"><h3>{number}. {_marked(row.cells[CONFIGURATION])}</h3>{_kv(row.detail)}</div>'
        for number, row in enumerate(report.rows, start=1)
    ]
    boxes += [
        f'<div class="box"><h3>{_marked(PUBLISHED + " " + ref.label)}</h3>'
        f'{_kv((*ref.detail, ("Source", f"{ref.source} ({ref.source_location})")))}</div>'
        for ref in report.references
    ]
    return f'<section class="card"><h2>Detail</h2><div class="details">{"".join(boxes)}</div></section>'


def _skipped_section(report: Report) -> str:
    rows = "".join(
        f"<tr><td>{escape(str(skip.path))}</td><td>{escape(skip.reason)}</td></tr>" for skip in report.skipped
    )
    return (f'<section class="card"><h2>Skipped records</h2><table class="skipped"><tbody>{rows}</tbody></table>'
            "</section>")


def _plotted(runs: list[Run], plots: int | None) -> set[int]:
    """The runs (by ``id``) whose plots are drawn: the ``plots`` most recently started, ties broken by run id."""
    if plots is None or plots >= len(runs):
        return {id(run) for run in runs}
    latest = sorted(runs, key=lambda run: (run.started_at or "", run.run_id), reverse=True)[:plots]
    return {id(run) for run in latest}


def _plots_note(plotted: int, runs: int, plots: int | None) -> str:
    return (
        '<section class="card"><h2>Plots</h2><p class="note">'
        f"Plots are drawn for the {formatting.count(plotted)} most recently started of the {formatting.count(runs)} "
        f"runs (<code>--plots {plots}</code>); the other {formatting.count(runs - plotted)} are listed with their "
        "facts, without plots. <code>--plots all</code> plots every run (about 20 KB of page a run), "
        "<code>--plots N</code> the N most recent; a report of chosen run folders plots those.</p></section>"
    )


def _row_runs(number: int, row: Row, plotted: set[int]) -> Iterator[str]:
    key, group = row.key, row.stats.repeat_group
    repeats = f"repeat group {group}, {len(row.runs)} run(s)" if group else "a run made alone"
    yield (f'<div class="group-title" id="row-{number}">{number}. {_marked(row.cells[CONFIGURATION])} '
           f"<small>{escape(key.topology)} · {escape(repeats)}</small></div>")
    for run in row.runs:
        yield _run_article(run, plotted=id(run) in plotted)


def _run_article(run: Run, plotted: bool = True) -> str:
    """A run's facts, and its plots where ``plotted`` (only then are its logs read)."""
    series = read_series(run) if plotted else None
    status = f'<span class="badge {_STATUS_CLASS.get(run.status, "muted")}">{escape(run.status)}</span>'
    facts = [f"{run.topology} ({run.world_size} device(s))", batch(GroupKey.of(run)), run.precision]
    if run.seed is not None:
        facts.append(f"seed {run.seed}")
    if run.p_train is not None:
        facts.append(Marks.of([run]).apply("p_train", f"p_train {formatting.throughput(run.p_train)} samples/s"))
    if run.final_metric is not None:
        target = f"{bound_sign(higher_is_better(run.higher_is_better))} {formatting.metric(run.target)}"
        facts.append(f"{run.metric_name} {formatting.metric(run.final_metric)} (target {target})")
    if run.steps is not None:
        facts.append(f"{formatting.count(run.steps)} steps")
    if run.started_at:
        facts.append(f"started {run.started_at}")
    if run.reason:
        facts.append(run.reason)
    problems = "".join(
        f"<li>{escape(problem)}</li>" for problem in (series.problems if series else []) + list(run.notes))
    plots = (f'<div class="plots">{"".join(svg.render(chart) for chart in _charts(run, series))}</div>' if series
             else '<div class="noplots">not plotted: older than the runs --plots draws</div>')
    return (
        f'<article class="run"><header><span class="id">{escape(run.run_id)}</span>{status}</header>'
        f'<div class="facts">{escape(" · ".join(facts))}</div>'
        + plots
        + (f'<ul class="problems">{problems}</ul>' if problems else "")
        + "</article>"
    )


def _charts(run: Run, series: RunSeries) -> list[svg.Chart]:
    eval_rules = [svg.Rule(step, "evaluation", _EVAL, axis="x") for step in series.eval_steps]
    no_events = "no events.jsonl" if not series.has_events else None
    time_bands = []
    if series.train_window:
        time_bands.append(svg.Band(*series.train_window, "train window", _TRAIN, 0.10))
    time_bands += [svg.Band(start, end, "evaluation", _EVAL, 0.28) for start, end in series.eval_intervals]
    higher = higher_is_better(run.higher_is_better)
    # Only a recipe that clips records the norm; a chart of nothing would say less than no chart.
    clipping = [svg.Chart(
        title="Gradient norm before clipping",
        x_label="step",
        y_label="global gradient norm",
        lines=[svg.Line("gradient norm", series.grad_norm, svg.color(1))],
        rules=eval_rules,
    )] if series.grad_norm else []
    scores = {name: points for name, points in series.extras.items() if all(0 <= y <= 1 for _, y in points)}
    others = {name: points for name, points in series.extras.items() if name not in scores}
    return [
        svg.Chart(
            title="Training loss",
            x_label="step",
            y_label="loss",
            lines=[svg.Line("loss", series.loss, svg.color(0))],
            rules=eval_rules,
            empty_reason=no_events or "no step events",
        ),
        *clipping,
        svg.Chart(
            title=f"Evaluation: {run.metric_name}",
            x_label="step",
            y_label="score (0 to 1)" if higher else f"{run.metric_name} (lower is better)",
            lines=[
                svg.Line(run.metric_name, series.metric, svg.color(0), markers=True),
                *(svg.Line(_extra_name(name), points, svg.color(2 + index), markers=True, dashed=True)
                  for index, (name, points) in enumerate(scores.items())),
            ],
            rules=[svg.Rule(run.target, f"target {formatting.metric(run.target)}", "#9b1c1c")],
            empty_reason=no_events or "no eval events",
        ),
        *(svg.Chart(
            title=f"Evaluation: {_extra_name(name)}",
            x_label="step",
            y_label=_extra_name(name),
            lines=[svg.Line(_extra_name(name), points, svg.color(1), markers=True)],
        ) for name, points in others.items()),
        svg.Chart(
            title=Marks.of([run]).apply("p_train", "Training throughput"),
            x_label="step",
            y_label="samples/s (all devices)",
            lines=[svg.Line("samples/s", series.samples_per_s, svg.color(2))],
            rules=eval_rules,
            empty_reason=no_events or "no samples_per_s in step events",
        ),
        _telemetry_chart("Power per device", "power (W)", series.power_w, series, time_bands,
                         "no power sensor (empty power_w cells)"),
        _telemetry_chart("Device memory used", "memory used (GiB)", series.memory_gib, series, time_bands,
                         "no memory readings"),
        _telemetry_chart("Device utilization", "utilization (%)", series.utilization_pct, series, time_bands,
                         "no utilization readings"),
    ]


def _extra_name(name: str) -> str:
    """A case extra as the charts name it: ``eval_loss`` -> ``eval loss``."""
    return name.replace("_", " ")


def _telemetry_chart(
    title: str,
    y_label: str,
    per_device: dict[str, list[tuple[float, float]]],
    series: RunSeries,
    bands: list[svg.Band],
    no_readings: str,
) -> svg.Chart:
    """One per-device telemetry plot over time, with the train window and evaluations shaded."""
    return svg.Chart(
        title=title,
        x_label="time since launch (s)",
        y_label=y_label,
        lines=_device_lines(per_device),
        bands=bands,
        empty_reason="no telemetry.csv" if not series.has_telemetry else no_readings,
    )


def _device_lines(per_device: dict[str, list[tuple[float, float]]]) -> list[svg.Line]:
    """One line per device in telemetry order; colours repeat dashed beyond the palette."""
    return [
        svg.Line(label, points, svg.color(index), dashed=index >= len(svg.PALETTE))
        for index, (label, points) in enumerate(per_device.items())
    ]
