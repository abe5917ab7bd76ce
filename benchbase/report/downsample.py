"""A plotted line of bounded size, filled one point at a time (docs/report-format.md, "Plots of a long run").

A 4-hour run logs a million step events and, per device, 144,000 telemetry rows; a chart draws 600 points. The HTML
report reads a record once and keeps, for each line, every point up to :data:`CAPACITY`; past it, the x axis is cut
into at most ``CAPACITY / 2`` buckets of equal width, each keeping its lowest and its highest point, so a spike or a
dip survives as it does in :func:`benchbase.report.svg.thin`. When a new point falls outside the buckets' range and
there would be too many, the width doubles and neighbouring buckets merge. The points kept never exceed
:data:`CAPACITY`, however long the record.
"""

from __future__ import annotations

import math

Point = tuple[float, float]

#: The most points a line keeps: far more than the 600 a chart draws, so the chart's own thinning decides what is
#: drawn, over a line that has lost nothing it would show.
CAPACITY = 4096
#: Bucket numbers stay below this magnitude: a far outlier widens the buckets instead of overflowing their count.
_KEY_LIMIT = 2.0**52


class BoundedLine:
    """The points of one line: all of them up to ``capacity``, then each x bucket's lowest and highest."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        if capacity < 4:
            raise ValueError(f"a line needs a capacity of at least 4 points, got {capacity}")
        self._capacity = capacity
        self._points: list[Point] | None = []
        self._buckets: dict[int, tuple[Point, Point]] = {}
        self._origin = 0.0
        self._width = 1.0

    def add(self, x: float, y: float) -> None:
        """One point (finite coordinates: the readers drop the others before)."""
        if self._points is not None:
            self._points.append((x, y))
            if len(self._points) > self._capacity:
                self._to_buckets(self._points)
                self._points = None
            return
        self._put(x, y)

    def points(self) -> list[Point]:
        """The kept points: in the order added while nothing was dropped, else bucket by bucket along x, each
        bucket's one or two points in x order."""
        if self._points is not None:
            return list(self._points)
        kept: list[Point] = []
        for key in sorted(self._buckets):
            low, high = self._buckets[key]
            kept.extend(sorted({low, high}))
        return kept

    def _to_buckets(self, points: list[Point]) -> None:
        xs = [x for x, _ in points]
        self._origin = min(xs)
        span = max(xs) - self._origin
        self._width = span / (self._capacity // 2 - 1) if span > 0 else 1.0
        for x, y in points:
            self._put(x, y)

    def _put(self, x: float, y: float) -> None:
        offset = (x - self._origin) / self._width
        while not abs(offset) < _KEY_LIMIT:  # a point far outside the buckets (or a width too fine to divide by)
            self._merge()
            offset = (x - self._origin) / self._width
        key = math.floor(offset)
        point = (x, y)
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = (point, point)
            while len(self._buckets) > self._capacity // 2:
                self._merge()
            return
        low, high = bucket
        self._buckets[key] = (point if y < low[1] else low, point if y > high[1] else high)

    def _merge(self) -> None:
        """Doubles the bucket width: buckets ``2k`` and ``2k + 1`` become bucket ``k``."""
        merged: dict[int, tuple[Point, Point]] = {}
        for key in sorted(self._buckets):
            low, high = self._buckets[key]
            if key // 2 in merged:
                first_low, first_high = merged[key // 2]
                low = low if low[1] < first_low[1] else first_low
                high = high if high[1] > first_high[1] else first_high
            merged[key // 2] = (low, high)
        self._buckets = merged
        self._width *= 2
