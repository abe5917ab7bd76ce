"""What verify needs of ``events.jsonl``, gathered in one pass that holds one line at a time.

A 4-hour run's log holds a million step events; verify held them all as dicts (gigabytes) and walked them once per
check. The checks need far less: the few rare events they compare (the last ``launch``, ``run_start``,
``run_stop`` and ``windows``, the ``observer_error`` events), each attempt's evaluations and ending, and facts about
the steps that can be checked as they stream by (each writer's time order, samples = steps x global batch, the
series of step events, the first evaluation that reaches the target). This pass gathers exactly those, in the log's
order; :mod:`.timeline` and :mod:`.claims` turn them into findings worded as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchbase.record import schema
from benchbase.record.events import event_lines
from benchbase.record.target import reaches
from benchbase.train.observers import OBSERVER_ERROR_EVENT
from benchbase.verify.findings import Finding
from benchbase.verify.step_grid import StepGrid

_LOG = schema.EVENTS_FILE


@dataclass
class Attempt:
    """One attempt: the log from a ``resume`` event (or its start) to the next. ``first`` is the step it starts
    from; ``steps`` is ``None`` where no ``log_interval`` is set."""

    resumed: bool
    first: int
    steps: StepGrid | None
    evals: list[int | None] = field(default_factory=list)
    stopped: bool = False
    stop_step: int | None = None
    stop_value: Any = None


@dataclass
class Counted:
    """An event that counts both steps and samples: ``number`` is its place among the log's readable events."""

    number: int
    key: str
    step: int
    samples: int


@dataclass
class LogDigest:
    """The log as the checks need it. ``order`` and ``resumes`` are findings already (they need nothing the log
    says later); ``uncounted`` are the events whose samples are not step x the global batch of the ``run_start``
    before them, and ``counted_under`` the global batches the other events were checked against."""

    path: Path
    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    launch_ms: float | None = None
    resumed: bool = False
    observer_errors: list[dict[str, Any]] = field(default_factory=list)
    order: list[Finding] = field(default_factory=list)
    resumes: list[Finding] = field(default_factory=list)
    uncounted: list[Counted] = field(default_factory=list)
    counted_under: set[int | None] = field(default_factory=set)
    attempts: list[Attempt] = field(default_factory=list)
    reached: bool = False
    reached_step: Any = None


#: The events kept whole, the last of each kind: what the claims and the coverage compare.
KEPT = ("launch", "run_start", "run_stop", "train_stop", "windows")


def read_log(path: Path, log_interval: int | None, target: Any, higher: bool) -> LogDigest:
    """One pass over ``path``. ``log_interval`` is config.yaml's (the step series), ``target`` and ``higher`` the
    summary's (the first evaluation that reaches the target). Raises :class:`benchbase.record.files.RecordError`
    as :func:`benchbase.record.events.event_lines` does, for a file that cannot be read at all."""
    digest = LogDigest(Path(path))
    digest.attempts.append(Attempt(False, 0, _grid(0, log_interval)))
    latest: dict[Any, tuple[float, int]] = {}
    saved: set[int] = set()
    batch: int | None = None
    aims = isinstance(target, (int, float)) and not isinstance(target, bool)
    for number, event in enumerate(readable(path), 1):
        key = event["key"]
        _stamp(digest, latest, number, event)
        if key in KEPT:
            digest.last[key] = event
        if key == "run_start":
            batch = as_int(meta(event).get("global_batch")) or None
        elif key == "launch" and is_number(event.get("time_ms")):
            digest.launch_ms = event["time_ms"]
        elif key == OBSERVER_ERROR_EVENT:
            digest.observer_errors.append(event)
        elif key == "resume":
            digest.resumed = True
            _resume(digest, event, saved, log_interval)
        elif key == "checkpoint" and (saved_step := as_int(event.get("step"))):
            saved.add(saved_step)
        _count(digest, number, event, batch)
        _attempt_event(digest, digest.attempts[-1], event)
        if aims and not digest.reached and key == "eval" and is_number(event.get("value")) \
                and reaches(event["value"], target, higher):
            digest.reached, digest.reached_step = True, event.get("step")
    return digest


def readable(path: Path) -> Iterator[dict[str, Any]]:
    """Every readable event of the log, in order (the events :func:`benchbase.record.events.read_events` lists)."""
    return (line.event for line in event_lines(path) if line.event is not None)


def _stamp(digest: LogDigest, latest: dict[Any, tuple[float, int]], number: int, event: dict[str, Any]) -> None:
    """Each writer (a rank, the supervisor) appends in time order. A ``rank`` no writer has (a list, in an edited
    log) is a writer of its own, named by its text, rather than a crash."""
    time_ms, writer = event.get("time_ms"), event.get("rank")
    if isinstance(writer, (list, dict)):
        writer = repr(writer)
    if not isinstance(time_ms, (int, float)):
        return
    if writer in latest and time_ms < latest[writer][0]:
        digest.order.append(Finding(_LOG, f"event {number} ({event['key']}) is stamped "
                                          f"{latest[writer][0] - time_ms:.0f} ms before event {latest[writer][1]} "
                                          "of the same writer"))
    latest[writer] = (time_ms, number)


def _count(digest: LogDigest, number: int, event: dict[str, Any], batch: int | None) -> None:
    step, samples = as_int(event.get("step")), as_int(event.get("samples"))
    if step is None or samples is None:
        return
    if batch is None or samples != step * batch:
        digest.uncounted.append(Counted(number, event["key"], step, samples))
    else:
        digest.counted_under.add(batch)


def _resume(digest: LogDigest, event: dict[str, Any], saved: set[int], log_interval: int | None) -> None:
    """A new attempt, which continues from a checkpoint an earlier attempt saved."""
    step = as_int(event.get("step"))
    number = len(digest.attempts) + 1
    if step not in saved:
        digest.resumes.append(Finding(_LOG, f"attempt {number} resumes at step {step}, where no earlier attempt "
                                            "saved a checkpoint"))
    first = step or 0
    digest.attempts.append(Attempt(True, first, _grid(first, log_interval)))


def _attempt_event(digest: LogDigest, attempt: Attempt, event: dict[str, Any]) -> None:
    key = event["key"]
    if key == "step" and attempt.steps is not None:
        attempt.steps.add(as_int(event.get("step")))
    elif key == "eval":
        attempt.evals.append(as_int(event.get("step")))
    elif key == "train_stop":
        attempt.stopped, attempt.stop_step, attempt.stop_value = True, as_int(event.get("step")), event.get("value")


def _grid(first: int, log_interval: int | None) -> StepGrid | None:
    return StepGrid(first - first % log_interval + log_interval, log_interval) if log_interval else None


def meta(event: Mapping[str, Any] | None) -> Mapping[str, Any]:
    metadata = event.get("metadata") if event else None
    return metadata if isinstance(metadata, Mapping) else {}


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
