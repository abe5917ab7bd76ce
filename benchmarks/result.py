"""What one benchmark reports: its comparison, its goal, and the lines a reader needs to judge the figure."""

from __future__ import annotations

from dataclasses import dataclass

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
        """What is judged against the goal: the ratio of the medians, or the figure; ``None`` when not measured."""
        if self.comparison is not None:
            return self.comparison.ratio
        return self.figure.value if self.figure is not None else None

    @property
    def met(self) -> bool | None:
        """Whether the value reaches the goal; ``None`` when nothing was measured."""
        value = self.value
        return None if value is None else value >= self.goal

    @property
    def verdict(self) -> str:
        met = self.met
        return "skipped" if met is None else ("met" if met else "NOT met")

    def lines(self) -> list[str]:
        """The block run_all prints: both arms, the ratio with its per-round spread, the goal, then the notes."""
        head = f"{self.number}. {self.title}"
        if self.figure is not None:
            f = self.figure
            out = [head, f"   {f.name} {f.value:.3f} ({f.derivation}); goal >= {self.goal:g}: {self.verdict}"]
            return out + [f"   {note}" for note in self.notes]
        if self.comparison is None:
            return [head, f"   skipped: {self.skipped}"]
        c = self.comparison
        rounds = c.round_ratios
        out = [
            head,
            _arm_line("baseline ", c.baseline, c.unit),
            _arm_line("candidate", c.candidate, c.unit),
            f"   ratio {c.ratio:.3f} (per round {min(rounds):.3f} .. {max(rounds):.3f}); "
            f"goal >= {self.goal:g}: {self.verdict}",
        ]
        out.extend(f"   {note}" for note in self.notes)
        return out


def _arm_line(label: str, series: Series, unit: str) -> str:
    low, high = min(series.values), max(series.values)
    return (f"   {label} {series.name}: median {_num(series.median)} {unit} "
            f"({len(series.values)} rounds, {_num(low)} .. {_num(high)})")


def _num(value: float) -> str:
    """Three significant figures, without switching to exponent notation for the sizes seen here."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"
