"""What verify found: one line each, named by the file or the figure it is about."""

from __future__ import annotations

from dataclasses import dataclass

from benchbase.foreign import visible


@dataclass(frozen=True)
class Finding:
    """One thing in a record that does not hold. ``subject`` is a file (``events.jsonl``) or a figure's place in
    the summary (``throughput.p_train``); ``problem`` says what does not hold, in the terms of docs/records.md."""

    subject: str
    problem: str

    def __str__(self) -> str:
        return visible(f"{self.subject}: {self.problem}")


@dataclass(frozen=True)
class Verdict:
    """The outcome for one run folder: ``findings`` fail it; ``notes`` are what could not be checked and why (a
    record from before manifests), which do not."""

    path: str
    run_id: str
    findings: tuple[Finding, ...]
    notes: tuple[str, ...]

    @property
    def verified(self) -> bool:
        return not self.findings
