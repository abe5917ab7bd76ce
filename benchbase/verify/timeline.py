"""The event log's own consistency: what a log written by the loop always satisfies, and an edited one may not.

The loop (:mod:`benchbase.train.loop`) stamps events in order, counts ``samples`` as steps x global batch, logs every
``log_interval`` steps, evaluates at step 0, every ``ceil(eval_interval_samples / global batch)`` steps and at the
end, and stops at the first evaluation that reaches the target. A resumed run starts a new attempt at its ``resume``
event, from the step of a checkpoint an earlier attempt wrote. Dropping an event, shifting a timestamp, or claiming
a convergence no evaluation shows breaks one of these, and each is named with the event it is about.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from benchbase.record import schema
from benchbase.record.target import higher_is_better, reaches
from benchbase.verify.findings import Finding

_LOG = schema.EVENTS_FILE
#: The ``train_stop`` reasons after which the loop evaluates once more at the last step (unless it just did).
BUDGET_ENDS = ("max_steps", "max_samples")


def check_timeline(
    events: list[dict[str, Any]], summary: Mapping[str, Any], values: Mapping[str, Any]
) -> list[Finding]:
    """Findings about the order, the counting, the cadence and the convergence claim of ``events``; ``values``
    are config.yaml's values (``log_interval``, ``eval_interval_samples``)."""
    findings = _order(events)
    start = _last(events, "run_start")
    global_batch = _int(_meta(start).get("global_batch")) if start else None
    if start is None or not global_batch:
        if summary.get("steps"):
            findings.append(Finding(_LOG, "no run_start event with a global batch, yet the summary counts steps"))
        return findings
    findings += _counting(events, global_batch)
    attempts = _attempts(events)
    findings += _resumes(attempts)
    log_interval = _int(values.get("log_interval"))
    interval_samples = _int(values.get("eval_interval_samples"))
    for number, attempt in enumerate(attempts, 1):
        if log_interval:
            findings += _logging(attempt, log_interval, number)
        if interval_samples:
            findings += _cadence(attempt, max(1, math.ceil(interval_samples / global_batch)), number)
    findings += _convergence(events, summary)
    return findings


def _order(events: list[dict[str, Any]]) -> list[Finding]:
    """Each writer (a rank, the supervisor) appends in time order."""
    findings = []
    latest: dict[Any, tuple[float, int]] = {}
    for line, event in enumerate(events, 1):
        time_ms, writer = event.get("time_ms"), event.get("rank")
        if not isinstance(time_ms, (int, float)):
            continue
        if writer in latest and time_ms < latest[writer][0]:
            findings.append(Finding(_LOG, f"event {line} ({event['key']}) is stamped {latest[writer][0] - time_ms:.0f} "
                                          f"ms before event {latest[writer][1]} of the same writer"))
        latest[writer] = (time_ms, line)
    return findings


def _counting(events: list[dict[str, Any]], global_batch: int) -> list[Finding]:
    """Every event that counts both says samples = steps x global batch."""
    findings = []
    for line, event in enumerate(events, 1):
        step, samples = _int(event.get("step")), _int(event.get("samples"))
        if step is not None and samples is not None and samples != step * global_batch:
            findings.append(Finding(_LOG, f"event {line} ({event['key']}) counts {samples} samples at step {step}, "
                                          f"not {step} x {global_batch}"))
    return findings


def _attempts(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The log cut at each ``resume`` event: one list of events per attempt, the resume event first."""
    attempts: list[list[dict[str, Any]]] = [[]]
    for event in events:
        if event["key"] == "resume":
            attempts.append([])
        attempts[-1].append(event)
    return attempts


def _resumes(attempts: list[list[dict[str, Any]]]) -> list[Finding]:
    """An attempt after the first continues from a checkpoint an earlier attempt saved."""
    findings = []
    saved: set[int] = set()
    for number, attempt in enumerate(attempts, 1):
        if number > 1:
            step = _int(attempt[0].get("step"))
            if step not in saved:
                findings.append(Finding(_LOG, f"attempt {number} resumes at step {step}, where no earlier attempt "
                                              "saved a checkpoint"))
        saved.update(step for event in attempt if event["key"] == "checkpoint" and (step := _int(event.get("step"))))
    return findings


def _logging(attempt: list[dict[str, Any]], log_interval: int, number: int) -> list[Finding]:
    """Step events come every ``log_interval`` steps, none missing, none repeated, within one attempt."""
    steps = [_int(event.get("step")) for event in attempt if event["key"] == "step"]
    stop = _last(attempt, "train_stop")
    first = (_int(attempt[0].get("step")) or 0) if attempt[0]["key"] == "resume" else 0
    last = _int(stop.get("step")) if stop else (steps[-1] if steps else first)
    if last is None:
        return []
    expected = list(range(first - first % log_interval + log_interval, last + 1, log_interval))
    if steps == expected:
        return []
    missing = sorted(set(expected) - set(s for s in steps if s is not None))
    what = f"no step event at step {missing[0]}" if missing else f"step events at {_listing(steps)}"
    return [Finding(_LOG, f"attempt {number}: {what} (one is written every {log_interval} steps)")]


def _cadence(attempt: list[dict[str, Any]], every: int, number: int) -> list[Finding]:
    """Evaluations at step 0 of a fresh run, every ``every`` steps, and at the last step; no other, none missing."""
    evals = [_int(event.get("step")) for event in attempt if event["key"] == "eval"]
    stop = _last(attempt, "train_stop")
    resumed = attempt[0]["key"] == "resume"
    first = (_int(attempt[0].get("step")) or 0) if resumed else 0
    last = _int(stop.get("step")) if stop else None
    required = set(range(first - first % every + every, (last if last is not None else first) + 1, every))
    if not resumed:
        required.add(0)
    ended = stop is not None and stop.get("value") in BUDGET_ENDS
    allowed = required | ({last} if last is not None else set())
    if ended:
        required.add(last)
    elif last is not None:
        required.discard(last)  # an interrupt may cut the evaluation due at its step short
    findings = []
    strays = [step for step in evals if step not in allowed]
    if strays:
        findings.append(Finding(_LOG, f"attempt {number}: an evaluation at step {strays[0]}, off the cadence of "
                                      f"every {every} steps"))
    if stop is not None:
        missing = sorted(required - set(evals))
        if missing:
            findings.append(Finding(_LOG, f"attempt {number}: no evaluation at step {missing[0]} (one every {every} "
                                          "steps and one at the end)"))
    return findings


def _convergence(events: list[dict[str, Any]], summary: Mapping[str, Any]) -> list[Finding]:
    """``converged`` is backed by an evaluation that reaches the target (at or above it, or at or below it for a
    lower-is-better metric), at the recorded step; any other ending has no such evaluation (the loop stops at the
    first one)."""
    target = summary.get("target")
    if not isinstance(target, (int, float)) or isinstance(target, bool):
        return []
    higher = higher_is_better(summary.get("higher_is_better"))
    reached = [event for event in events if event["key"] == "eval" and isinstance(event.get("value"), (int, float))
               and not isinstance(event["value"], bool) and reaches(event["value"], target, higher)]
    status = summary.get("status")
    if status == schema.CONVERGED:
        if not reached:
            return [Finding("status", f"converged, but no evaluation in the log reaches the target {target}")]
        if summary.get("converged_step") != reached[0].get("step"):
            side = "above" if higher else "below"
            return [Finding("converged_step", f"{summary.get('converged_step')!r}, but the first evaluation at or "
                                              f"{side} the target is at step {reached[0].get('step')}")]
    elif reached and status in schema.COMPLETED_STATUSES:
        return [Finding("status", f"{status}, but the evaluation at step {reached[0].get('step')} reaches the "
                                  f"target {target}")]
    return []


def _last(events: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    return next((event for event in reversed(events) if event["key"] == key), None)


def _meta(event: Mapping[str, Any] | None) -> Mapping[str, Any]:
    metadata = event.get("metadata") if event else None
    return metadata if isinstance(metadata, Mapping) else {}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def _listing(steps: list[int | None]) -> str:
    shown = ", ".join(str(step) for step in steps[:6])
    return shown + (", ..." if len(steps) > 6 else "")
