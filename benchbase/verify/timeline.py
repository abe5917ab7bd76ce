"""The event log's own consistency: what a log written by the loop always satisfies, and an edited one may not.

The loop (:mod:`benchbase.train.loop`) stamps events in order, counts ``samples`` as steps x global batch, logs every
``log_interval`` steps, evaluates at step 0, every ``ceil(eval_interval_samples / global batch)`` steps and at the
end, and stops at the first evaluation that reaches the target. A resumed run starts a new attempt at its ``resume``
event, from the step of a checkpoint an earlier attempt wrote. Dropping an event, shifting a timestamp, or claiming
a convergence no evaluation shows breaks one of these, and each is named with the event it is about. The checks
read the log's digest (:mod:`.log_digest`), never the whole log: a 4-hour run's million step events are checked as
they stream by.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from benchbase.record import schema
from benchbase.record.files import RecordError
from benchbase.record.target import higher_is_better
from benchbase.verify.findings import Finding
from benchbase.verify.log_digest import Attempt, Counted, LogDigest, as_int, meta, readable

_LOG = schema.EVENTS_FILE
#: The ``train_stop`` reasons after which the loop evaluates once more at the last step (unless it just did).
BUDGET_ENDS = ("max_steps", "max_samples")


def check_timeline(digest: LogDigest, summary: Mapping[str, Any], values: Mapping[str, Any]) -> list[Finding]:
    """Findings about the order, the counting, the cadence and the convergence claim of the log ``digest`` read
    (:func:`benchbase.verify.log_digest.read_log`, given ``values``' ``log_interval``); ``values`` are config.yaml's
    values (``log_interval``, ``eval_interval_samples``)."""
    findings = list(digest.order)
    start = digest.last.get("run_start")
    global_batch = as_int(meta(start).get("global_batch")) if start else None
    if start is None or not global_batch:
        if summary.get("steps"):
            findings.append(Finding(_LOG, "no run_start event with a global batch, yet the summary counts steps"))
        return findings
    findings += _counting(digest, global_batch)
    findings += digest.resumes
    log_interval = as_int(values.get("log_interval"))
    interval_samples = as_int(values.get("eval_interval_samples"))
    for number, attempt in enumerate(digest.attempts, 1):
        if log_interval:
            findings += _logging(attempt, log_interval, number)
        if interval_samples:
            findings += _cadence(attempt, max(1, math.ceil(interval_samples / global_batch)), number)
    findings += _convergence(digest, summary)
    return findings


def _counting(digest: LogDigest, global_batch: int) -> list[Finding]:
    """Every event that counts both says samples = steps x global batch. The pass checked each against the global
    batch of the ``run_start`` before it; where that was not the last one's (a log edited to change it), the log is
    read again against the last one's."""
    counted = digest.uncounted
    if not digest.counted_under <= {global_batch}:
        try:
            counted = [Counted(number, event["key"], step, samples)
                       for number, event in enumerate(readable(digest.path), 1)
                       if (step := as_int(event.get("step"))) is not None
                       and (samples := as_int(event.get("samples"))) is not None]
        except RecordError as exc:
            return [Finding(_LOG, f"cannot be read again to count its samples: {exc}")]
    return [Finding(_LOG, f"event {event.number} ({event.key}) counts {event.samples} samples at step {event.step}, "
                          f"not {event.step} x {global_batch}")
            for event in counted if event.samples != event.step * global_batch]


def _logging(attempt: Attempt, log_interval: int, number: int) -> list[Finding]:
    """Step events come every ``log_interval`` steps, none missing, none repeated, within one attempt."""
    steps = attempt.steps
    assert steps is not None  # the pass follows the series wherever a log_interval is set
    last = attempt.stop_step if attempt.stopped else (steps.last if steps.count else attempt.first)
    if last is None:
        return []
    places = len(range(steps.start, last + 1, log_interval))
    if steps.matches(places):
        return []
    missing = steps.lowest_missing(places)
    what = f"no step event at step {missing}" if missing is not None else f"step events at {steps.listing()}"
    return [Finding(_LOG, f"attempt {number}: {what} (one is written every {log_interval} steps)")]


def _cadence(attempt: Attempt, every: int, number: int) -> list[Finding]:
    """Evaluations at step 0 of a fresh run, every ``every`` steps, and at the last step; no other, none missing."""
    evals, first = attempt.evals, attempt.first
    last = attempt.stop_step if attempt.stopped else None
    required = set(range(first - first % every + every, (last if last is not None else first) + 1, every))
    if not attempt.resumed:
        required.add(0)
    ended = attempt.stopped and attempt.stop_value in BUDGET_ENDS
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
    if attempt.stopped:
        missing = sorted(required - set(evals))
        if missing:
            findings.append(Finding(_LOG, f"attempt {number}: no evaluation at step {missing[0]} (one every {every} "
                                          "steps and one at the end)"))
    return findings


def _convergence(digest: LogDigest, summary: Mapping[str, Any]) -> list[Finding]:
    """``converged`` is backed by an evaluation that reaches the target (at or above it, or at or below it for a
    lower-is-better metric), at the recorded step; any other ending has no such evaluation (the loop stops at the
    first one). The pass noted the first evaluation that reaches the summary's target."""
    target = summary.get("target")
    if not isinstance(target, (int, float)) or isinstance(target, bool):
        return []
    higher = higher_is_better(summary.get("higher_is_better"))
    status = summary.get("status")
    if status == schema.CONVERGED:
        if not digest.reached:
            return [Finding("status", f"converged, but no evaluation in the log reaches the target {target}")]
        if summary.get("converged_step") != digest.reached_step:
            side = "above" if higher else "below"
            return [Finding("converged_step", f"{summary.get('converged_step')!r}, but the first evaluation at or "
                                              f"{side} the target is at step {digest.reached_step}")]
    elif digest.reached and status in schema.COMPLETED_STATUSES:
        return [Finding("status", f"{status}, but the evaluation at step {digest.reached_step} reaches the "
                                  f"target {target}")]
    return []
