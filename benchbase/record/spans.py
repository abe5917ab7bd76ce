"""The spans of wall-clock time a figure of the record counts (docs/records.md, "Which time counts").

A run that was resumed trained in several attempts: the first trained up to a checkpoint, went on (steps it would
redo), died, and the host sat idle until ``--resume`` started the next. Power, energy and host contention measured
from the first attempt's start to the last one's end would average the redone steps and the idle gap into the
figure. The worker's ``windows`` event therefore names each attempt's counted span (``attempts_ms``), and the
spans of evaluations and declared warm-ups inside them; this module turns them into sets of disjoint spans that the
summary's figures are computed over. Times are wall-clock epoch milliseconds, as ``telemetry.csv`` stamps its rows.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any


class Spans:
    """Disjoint, sorted ``[start_ms, end_ms]`` spans (both ends inclusive), merged where they touch or overlap."""

    def __init__(self, pairs: Iterable[tuple[float, float]] = ()) -> None:
        merged: list[tuple[float, float]] = []
        for begin, end in sorted(pairs):
            if end < begin:
                continue
            if merged and begin <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((begin, end))
        self._spans = merged
        self._starts = [begin for begin, _ in merged]

    @classmethod
    def from_record(cls, pairs: Any) -> Spans:
        """Spans from a record's ``[[start_ms, end_ms], ...]``; a pair that is not two finite numbers is ignored,
        because a damaged list must not stop the summary (what it cannot read is simply not excluded)."""
        return cls(
            (float(pair[0]), float(pair[1]))
            for pair in (pairs if isinstance(pairs, list) else [])
            if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(_finite(x) for x in pair)
        )

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter(self._spans)

    def __bool__(self) -> bool:
        return bool(self._spans)

    def __repr__(self) -> str:
        return f"Spans({self._spans!r})"

    def contains(self, time_ms: float) -> bool:
        """Whether ``time_ms`` falls inside a span: one binary search, since a long run has tens of thousands of
        telemetry rows and hundreds of evaluations."""
        index = bisect.bisect_right(self._starts, time_ms) - 1
        return index >= 0 and time_ms <= self._spans[index][1]

    def minus(self, other: Spans) -> Spans:
        """These spans with ``other``'s cut out. The pieces keep the cut's boundaries as their ends: a boundary is an
        instant, not time, and a sample stamped exactly on it is counted once, by the piece it ends."""
        pieces: list[tuple[float, float]] = []
        for begin, end in self._spans:
            cursor = begin
            for cut_begin, cut_end in other:
                if cut_end <= cursor or cut_begin >= end:
                    continue
                if cut_begin > cursor:
                    pieces.append((cursor, cut_begin))
                cursor = max(cursor, cut_end)
            if cursor < end:
                pieces.append((cursor, end))
        return Spans(pieces)

    def seconds(self) -> float:
        """The spans' total length in seconds."""
        return sum(end - begin for begin, end in self._spans) / 1000


def attempts(window_meta: Mapping[str, Any]) -> Spans:
    """The counted span of each attempt (``attempts_ms``); a record written before attempts were recorded has one,
    ``[train_start_ms, train_end_ms]``. Empty when the run never reached the end of training."""
    recorded = Spans.from_record(window_meta.get("attempts_ms"))
    if recorded:
        return recorded
    start, end = window_meta.get("train_start_ms"), window_meta.get("train_end_ms")
    return Spans([(float(start), float(end))]) if _finite(start) and _finite(end) else Spans()


def steady(window_meta: Mapping[str, Any]) -> Spans:
    """The attempts without their evaluations and declared warm-ups: the time power and energy are measured over,
    as the steady throughput ``p_train`` leaves those out too. Checkpoint writes inside it stay: a device's energy
    counter counts them whether or not a figure wants it to, and both energy sources must cover the same time."""
    evaluations = Spans.from_record(window_meta.get("eval_intervals_ms"))
    warmups = Spans.from_record(window_meta.get("warmup_intervals_ms"))
    excluded = Spans([*evaluations, *warmups])
    return attempts(window_meta).minus(excluded)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
