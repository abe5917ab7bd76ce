"""The marks a figure carries when the conditions it was measured under make it less than clean.

Two conditions, each one symbol after the figure and one legend line under every table that shows it:

* :data:`CONTENDED`: a run of the row was contended (processes outside the run took more than a tenth of the host's
  CPU time while it trained, ``host.contended``) or oversubscribed (its ranks ran more threads than the host had
  CPUs, ``host.oversubscribed``). Every figure that depends on how fast training went carries it: throughput, time to
  target, FLOP/s and MFU, energy per sample and samples per joule. A row of repeats is marked when any repeat is, since
  its means hold that repeat. An official configuration measured so is not a clean official result: its
  Configuration starts with :data:`benchbase.report.columns.CONTENDED_ROW`.
* :data:`FEW_SAMPLES`: the power mean of a run of the row rests on too few telemetry samples per device
  (``power.too_few_samples``); the Power cell, energy per sample and samples per joule carry it.

Which figure carries which mark is decided here once, by the label the figure is shown under, so the standard table,
the efficiency table, ``--detail`` and ``--compare`` (whose lines are those labels) cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from benchbase.record.summary import CONTENDED_SHARE
from benchbase.report.columns import EFFICIENCY_COLUMNS, MFU, PERFORMANCE, POWER, SAMPLES_PER_JOULE
from benchbase.report.run import Run

CONTENDED = "†"
FEW_SAMPLES = "‡"
#: What each symbol means, printed once under any table where it appears.
LEGEND = {
    CONTENDED: "measured on a contended or oversubscribed host (other processes took more than "
    f"{CONTENDED_SHARE:.0%} of the host's CPU time while training, or the ranks ran more threads than CPUs): not a "
    "clean figure; rerun on a quiet host",
    FEW_SAMPLES: "the power mean rests on too few telemetry samples per device (power.too_few_samples): a rough figure",
}

#: Labels of the figures that depend on training speed (standard columns, detail lines, efficiency columns).
SPEED_LABELS = frozenset({
    PERFORMANCE, "FPS", "E2E", "p_whole", "p_train", "p_core", "Time to target", "Time to target range",
    "Time to target (olympic)", "Throughput range", "Throughput CV", MFU, "Energy per sample", *EFFICIENCY_COLUMNS,
})
#: Labels of the figures that rest on the telemetry's power samples.
POWER_LABELS = frozenset({POWER, "Energy per sample", SAMPLES_PER_JOULE})


def contended(run: Run) -> bool:
    """Whether the run fought for CPUs (either condition of :data:`CONTENDED`); unknown counts as not."""
    return bool(run.contended) or bool(run.oversubscribed)


def few_samples(run: Run) -> bool:
    """Whether the run's power mean rests on too few samples (``power.too_few_samples``); unknown counts as not."""
    return bool(run.too_few_samples)


@dataclass(frozen=True)
class Marks:
    """The conditions of a row (or a comparison's side): any of its runs'."""

    contended: bool = False
    few_samples: bool = False

    @classmethod
    def of(cls, runs: Iterable[Run]) -> Marks:
        runs = tuple(runs)
        return cls(contended=any(contended(run) for run in runs), few_samples=any(few_samples(run) for run in runs))

    def symbols(self, label: str) -> tuple[str, ...]:
        """The symbols a figure shown under ``label`` carries for these conditions."""
        found = []
        if self.contended and label in SPEED_LABELS:
            found.append(CONTENDED)
        if self.few_samples and label in POWER_LABELS:
            found.append(FEW_SAMPLES)
        return tuple(found)

    def apply(self, label: str, text: str) -> str:
        """``text`` with its symbols after it; a cell with no figure (``n/a (...)``) carries none."""
        symbols = self.symbols(label)
        return f"{text} {''.join(symbols)}" if symbols and not text.startswith("n/a") else text

    def names(self, label: str) -> tuple[str, ...]:
        """The conditions behind :meth:`symbols` as machine-readable words (CSV and JSON fields)."""
        words = {CONTENDED: "contended", FEW_SAMPLES: "too_few_power_samples"}
        return tuple(words[symbol] for symbol in self.symbols(label))


def legend_lines(marks: Iterable[Marks]) -> tuple[str, ...]:
    """The legend lines of the symbols that ``marks`` put on some figure."""
    marks = tuple(marks)
    lines = []
    if any(mark.contended for mark in marks):
        lines.append(f"{CONTENDED} {LEGEND[CONTENDED]}")
    if any(mark.few_samples for mark in marks):
        lines.append(f"{FEW_SAMPLES} {LEGEND[FEW_SAMPLES]}")
    return tuple(lines)
