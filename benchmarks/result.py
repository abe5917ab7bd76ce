"""What one benchmark reports: its comparison, its goal, its verdict, and the lines a reader needs to judge them."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.stats import MET, NOT_MET, UNSETTLED, MedianInterval
from benchmarks.timing import Comparison, Series


@dataclass(frozen=True)
class Figure:
    """A measurement judged against its goal on its own, with no baseline (MFU: a share of the device's peak)."""

    name: str
    value: float
    derivation: str


@dataclass(frozen=True)
class Result:
    """One numbered benchmark of the issue: a comparison against a baseline or a figure of its own; ``skipped`` says
    why when it could not run here."""

    number: int
    title: str
    goal: float
    comparison: Comparison | None = None
    notes: tuple[str, ...] = ()
    skipped: str | None = None
    figure: Figure | None = None

    @property
    def value(self) -> float | None:
        """What is judged against the goal: the median pair ratio, or the figure; ``None`` when not measured."""
        if self.comparison is not None:
            return self.comparison.ratio
        return self.figure.value if self.figure is not None else None

    @property
    def interval(self) -> MedianInterval | None:
        """The 90% interval of the median pair ratio; ``None`` for a figure or a skipped benchmark."""
        return self.comparison.interval if self.comparison is not None else None

    @property
    def verdict(self) -> str:
        """``met``, ``unsettled`` or ``NOT met`` (:mod:`benchmarks.stats`); a single figure is met or not; ``skipped``
        when nothing was measured."""
        if self.comparison is not None:
            return self.comparison.verdict(self.goal)
        if self.figure is not None:
            return MET if self.figure.value >= self.goal else NOT_MET
        return "skipped"

    @property
    def met(self) -> bool | None:
        """Whether the goal is met beyond doubt; ``None`` when nothing was measured."""
        return None if self.value is None else self.verdict == MET

    def pairs_to_settle(self) -> int | None:
        """For an unsettled comparison, the estimated pairs that would settle it; otherwise (or when the median sits
        on the goal) ``None``."""
        if self.comparison is None or self.verdict != UNSETTLED:
            return None
        return self.comparison.pairs_to_settle(self.goal)

    def settle_note(self) -> str:
        """For an unsettled comparison, the estimated pairs that would settle it; otherwise empty."""
        if self.comparison is None or self.verdict != UNSETTLED:
            return ""
        needed = self.pairs_to_settle()
        if needed is None:
            return "; the median sits on the goal: no number of pairs would settle it"
        return f"; about {needed:,} pairs would settle it (estimate from the spread of these pairs)"

    def lines(self) -> list[str]:
        """The block run_all prints: both arms, the median pair ratio with its interval, the verdict, the notes."""
        head = f"{self.number}. {self.title}"
        if self.figure is not None:
            f = self.figure
            out = [head, f"   {f.name} {f.value:.3f} ({f.derivation}); goal >= {self.goal:g}: {self.verdict}"]
            return out + [f"   {note}" for note in self.notes]
        if self.comparison is None:
            return [head, f"   skipped: {self.skipped}"]
        c = self.comparison
        out = [
            head,
            _arm_line("baseline ", c.baseline, c.unit),
            _arm_line("candidate", c.candidate, c.unit),
            "   pair ratios: " + " ".join(f"{r:.3f}" for r in c.pair_ratios),
            f"   median pair ratio {c.ratio:.3f}, {interval_text(c.interval)}; goal >= {self.goal:g}: "
            f"{self.verdict}{self.settle_note()}",
        ]
        out.extend(f"   {note}" for note in self.notes)
        return out


def interval_text(interval: MedianInterval) -> str:
    """``90% interval 0.951 .. 1.012 (6 pairs, coverage 96.9%)``, or why there is none."""
    if not interval.defined:
        return f"no 90% interval from {interval.n} pairs (at least 5 are needed)"
    assert interval.coverage is not None
    return (f"90% interval {interval.low:.3f} .. {interval.high:.3f} ({interval.n} pairs, exact coverage "
            f"{interval.coverage:.1%})")


def _arm_line(label: str, series: Series, unit: str) -> str:
    low, high = min(series.values), max(series.values)
    return (f"   {label} {series.name}: median {_num(series.median)} {unit} "
            f"({len(series.values)} pairs, {_num(low)} .. {_num(high)})")


def _num(value: float) -> str:
    """Three significant figures, without switching to exponent notation for the sizes seen here."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"
