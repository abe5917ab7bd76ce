"""Line charts as inline SVG text: axes with ticks and units, a legend, a title, shaded bands, reference lines.

The HTML report must be one self-contained file a browser opens offline, so charts are drawn here as plain SVG
markup rather than with a JavaScript library. Long series are thinned per pixel bucket keeping each bucket's
minimum and maximum, so spikes survive and a 10,000-step run still draws quickly.
"""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from benchbase.foreign import visible

# Okabe & Ito, "Color Universal Design" (2008): distinguishable with the common colour-vision deficiencies.
# Their yellow is left out: it is unreadable as a thin line on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'Helvetica Neue', Arial, sans-serif"
_CHAR_W = 6.4  # average width of an 11px sans-serif character, for legend layout
#: The largest magnitude an axis spans: a record may hold any double (``1e308``), and the span between two such
#: values, or the pixels scaled from it, would overflow to ``inf``. Values beyond it are drawn at the edge.
AXIS_LIMIT = 1e300
#: The narrowest axis: a span below it (one value, or denormals like ``5e-324``) is widened around the values.
_NARROWEST = 1e-200


@dataclass(frozen=True)
class Line:
    label: str
    points: Sequence[tuple[float, float]]
    color: str = PALETTE[0]
    markers: bool = False
    dashed: bool = False


@dataclass(frozen=True)
class Band:
    """A shaded x interval (the train window, an evaluation)."""

    start: float
    end: float
    label: str
    color: str
    opacity: float = 0.12


@dataclass(frozen=True)
class Rule:
    """A horizontal (``axis="y"``) or vertical (``axis="x"``) reference line at ``at``."""

    at: float
    label: str
    color: str = "#555555"
    axis: str = "y"


@dataclass(frozen=True)
class Chart:
    title: str
    x_label: str
    y_label: str
    lines: Sequence[Line]
    bands: Sequence[Band] = ()
    rules: Sequence[Rule] = ()
    empty_reason: str = "no data"
    width: int = 560
    height: int = 300
    max_points: int = 600


def escape(text: object) -> str:
    """Text for HTML and SVG, in element content and in quoted attribute values alike: ``<``, ``>``, ``&`` and both
    quotes as entities, so a label from a record (an extra's name, a run id, a reason) can open no tag and close no
    attribute; its control characters are spelled out, since the page is also printed to terminals."""
    return _escaped(text) if isinstance(text, str) else html.escape(visible(text), quote=True)


@functools.lru_cache(maxsize=4096)
def _escaped(text: str) -> str:
    """A page of thousands of runs escapes the same few labels (titles, axes, devices) in every chart: once each."""
    return html.escape(visible(text), quote=True)


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering ``[low, high]``: at least two
    distinct ones whatever the bounds (non-finite ones give ``[0, 1]``; huge ones are clamped to
    :data:`AXIS_LIMIT`; equal or denormal ones are widened), so the axis never divides by zero or overflows."""
    return list(_ticks(low, high, count))


@functools.lru_cache(maxsize=4096)
def _ticks(low: float, high: float, count: int) -> tuple[float, ...]:
    """:func:`nice_ticks`, kept for bounds seen before: the runs of one recipe share their step axis, and a page
    of thousands of runs draws it thousands of times."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return (0.0, 1.0)
    low, high = _clamp(min(low, high)), _clamp(max(low, high))
    if high - low < max(abs(low), abs(high)) * 1e-9 or high - low < _NARROWEST:
        pad = abs(low) * 0.1 if abs(low) * 0.1 >= _NARROWEST else 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    # Multiples of the step, not a running sum: at large magnitudes an added step is lost to rounding.
    # Twelve significant figures drop the binary noise of the product (6 * 0.1 is 0.6000000000000001).
    return tuple(float(f"{index * step:.12g}") for index in range(first, max(last, first + 1) + 1))


def _clamp(value: float) -> float:
    return min(max(value, -AXIS_LIMIT), AXIS_LIMIT)


def plottable(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points a chart can draw: a non-finite coordinate (a diverged loss, a damaged record) is skipped, and a
    huge one is drawn at :data:`AXIS_LIMIT`."""
    limit = AXIS_LIMIT
    return [(x, y) if -limit <= x <= limit and -limit <= y <= limit else (_clamp(x), _clamp(y))
            for x, y in points if math.isfinite(x) and math.isfinite(y)]


def tick_label(value: float, step: float) -> str:
    """As many decimals as the tick step needs (``0.25`` steps get two), thousands separated."""
    return _tick_text(value, step, _decimals(step))


def _decimals(step: float) -> int:
    """The decimals a tick step needs, at most six (the same for every tick of an axis)."""
    return next((d for d in range(7) if abs(round(step, d) - step) <= 1e-9 * max(1.0, abs(step))), 6)


def _tick_text(value: float, step: float, decimals: int) -> str:
    """:func:`tick_label` with its axis's :func:`_decimals` worked out already."""
    if abs(value) <= abs(step) * 1e-9:
        value = 0.0
    if abs(value) >= 1e15 or abs(step) < 1e-6:
        return f"{value:.3g}"  # a 301-digit or all-zero label says nothing
    return f"{value:,.{decimals}f}"


def thin(points: Sequence[tuple[float, float]], buckets: int) -> list[tuple[float, float]]:
    """At most ``2 * buckets`` points: each bucket of neighbours keeps its lowest and highest point, in order."""
    if len(points) <= 2 * buckets:
        return list(points)
    size = len(points) / buckets
    kept: list[tuple[float, float]] = []
    for index in range(buckets):
        chunk = points[int(index * size): int((index + 1) * size)]
        if not chunk:
            continue
        low = min(chunk, key=lambda point: point[1])
        high = max(chunk, key=lambda point: point[1])
        kept.extend(sorted({low, high}, key=lambda point: point[0]))
    return kept


def render(chart: Chart) -> str:
    """The chart as an ``<svg>`` element."""
    drawn = (Line(line.label, plottable(line.points), line.color, line.markers, line.dashed) for line in chart.lines)
    lines = [line for line in drawn if line.points]
    bands = [band for band in chart.bands if math.isfinite(band.start) and math.isfinite(band.end)]
    rules = [rule for rule in chart.rules if math.isfinite(rule.at)]
    legend = [(line.label, line.color, "dash" if line.dashed else "line") for line in lines]
    legend += [(band.label, band.color, "band") for band in bands if band.label]
    legend += [(rule.label, rule.color, "rule") for rule in rules if rule.label]
    legend = tuple(dict.fromkeys(legend))  # one entry per label/colour, e.g. many eval bands
    width, height = chart.width, chart.height
    legend_svg, legend_height = _legend(legend, width)
    left, right, top, bottom = 64, width - 18, 30 + legend_height, height - 44
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(chart.title)}" font-family="{FONT}" font-size="11">',
        f"<title>{escape(chart.title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="18" font-size="13" font-weight="600" fill="#1f2933">{escape(chart.title)}</text>',
        legend_svg,
    ]
    if not lines:
        parts.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="#f7f8fa" '
                     f'stroke="#d5dae1"/>')
        parts.append(f'<text x="{(left + right) / 2}" y="{(top + bottom) / 2}" text-anchor="middle" fill="#6b7280" '
                     f'font-size="12">{escape(chart.empty_reason)}</text>')
        parts.append("</svg>")
        return "".join(parts)
    xs = [x for line in lines for x, _ in line.points]
    ys = [y for line in lines for _, y in line.points]
    ys += [_clamp(rule.at) for rule in rules if rule.axis == "y"]
    x_ticks, y_ticks = _ticks(min(xs), max(xs), 5), _ticks(min(ys), max(ys), 5)
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    x_span, y_span, width_px, height_px = x1 - x0, y1 - y0, right - left, bottom - top

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (right - left)

    def sy(y: float) -> float:
        return bottom - (y - y0) / (y1 - y0) * (bottom - top)

    for band in bands:
        start, end = max(band.start, x0), min(band.end, x1)
        if end > start:
            parts.append(f'<rect x="{sx(start):.1f}" y="{top}" width="{sx(end) - sx(start):.1f}" '
                         f'height="{bottom - top}" fill="{band.color}" fill-opacity="{band.opacity}">'
                         f"<title>{escape(band.label)}: {band.start:,.1f} to {band.end:,.1f}</title></rect>")
    parts.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="none" '
                 f'stroke="#9aa5b1"/>')
    parts.append(_y_axis(y_ticks, left, right, top, bottom))
    parts.append(_x_axis(x_ticks, left, right, bottom))
    for rule in rules:
        if rule.axis == "y":
            parts.append(f'<line x1="{left}" x2="{right}" y1="{sy(rule.at):.1f}" y2="{sy(rule.at):.1f}" '
                         f'stroke="{rule.color}" stroke-width="1.2" stroke-dasharray="6 4"/>')
        elif x0 <= rule.at <= x1:
            parts.append(f'<line x1="{sx(rule.at):.1f}" x2="{sx(rule.at):.1f}" y1="{top}" y2="{bottom}" '
                         f'stroke="{rule.color}" stroke-width="1" stroke-dasharray="2 3"/>')
    buckets = max(1, chart.max_points // 2)
    for line in lines:
        points = thin(sorted(line.points), buckets)
        # sx and sy written out (the same arithmetic, in the same order): a page of thousands of runs draws millions
        # of points, and the calls were a third of drawing them.
        path = " ".join(f"{left + (x - x0) / x_span * width_px:.1f},{bottom - (y - y0) / y_span * height_px:.1f}"
                        for x, y in points)
        dash = ' stroke-dasharray="5 3"' if line.dashed else ""
        parts.append(f'<polyline points="{path}" fill="none" stroke="{line.color}" stroke-width="1.6" '
                     f'stroke-linejoin="round"{dash}/>')
        if line.markers:
            parts.extend(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{line.color}" stroke="#ffffff" '
                f'stroke-width="1"><title>{escape(line.label)}: {y:.4g} at {escape(chart.x_label.split(" (")[0])} '
                f"{x:,.6g}</title></circle>"
                for x, y in points
            )
    parts.append(f'<text x="{(left + right) / 2}" y="{height - 8}" text-anchor="middle" fill="#374151">'
                 f"{escape(chart.x_label)}</text>")
    parts.append(f'<text transform="translate(14 {(top + bottom) / 2}) rotate(-90)" text-anchor="middle" '
                 f'fill="#374151">{escape(chart.y_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


@functools.lru_cache(maxsize=1024)
def _y_axis(ticks: tuple[float, ...], left: float, right: float, top: float, bottom: float) -> str:
    """Horizontal grid lines and the value labels: the same markup for every chart of the same ticks, so kept."""
    step = ticks[1] - ticks[0]
    decimals = _decimals(step)
    low, high = ticks[0], ticks[-1]
    out = []
    for value in ticks:
        y = bottom - (value - low) / (high - low) * (bottom - top)
        out.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7eb"/>')
        out.append(f'<text x="{left - 6}" y="{y + 3.5:.1f}" text-anchor="end" fill="#52606d">'
                   f"{_tick_text(value, step, decimals)}</text>")
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def _x_axis(ticks: tuple[float, ...], left: float, right: float, bottom: float) -> str:
    """Tick marks and labels under the plot: the same markup for every chart of the same ticks (the steps of one
    recipe's runs), so kept."""
    step = ticks[1] - ticks[0]
    decimals = _decimals(step)
    low, high = ticks[0], ticks[-1]
    out = []
    for value in ticks:
        x = left + (value - low) / (high - low) * (right - left)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}" stroke="#9aa5b1"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" fill="#52606d">'
                   f"{_tick_text(value, step, decimals)}</text>")
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def _legend(items: tuple[tuple[str, str, str], ...], width: int) -> tuple[str, int]:
    """Legend entries laid out in rows under the title; returns the markup and the height it takes (kept: every
    run's charts name the same lines)."""
    if not items:
        return "", 0
    out, x, row = [], 64.0, 0
    for label, colour, kind in items:
        entry_width = 22 + len(label) * _CHAR_W + 14
        if x + entry_width > width - 10 and x > 64:
            x, row = 64.0, row + 1
        y = 26 + row * 16
        if kind == "band":
            out.append(f'<rect x="{x:.1f}" y="{y - 1}" width="16" height="10" fill="{colour}" fill-opacity="0.3"/>')
        elif kind in ("rule", "dash"):
            out.append(f'<line x1="{x:.1f}" x2="{x + 16:.1f}" y1="{y + 4}" y2="{y + 4}" stroke="{colour}" '
                       f'stroke-width="1.6" stroke-dasharray="4 3"/>')
        else:
            out.append(f'<line x1="{x:.1f}" x2="{x + 16:.1f}" y1="{y + 4}" y2="{y + 4}" stroke="{colour}" '
                       f'stroke-width="2.4"/>')
        out.append(f'<text x="{x + 21:.1f}" y="{y + 8}" fill="#374151">{escape(label)}</text>')
        x += entry_width
    return "".join(out), (row + 1) * 16 + 4
