"""The gate's verdicts as the lines ``report --compare --fail-if`` prints, as the ``gate`` of the comparison's JSON,
and the exit code they add up to."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from benchbase.foreign import visible
from benchbase.report import formatting
from benchbase.report.gate import ALPHA, FAIL, TEST_NAME, UNDECIDED, Verdict, fewest_runs_per_side

#: The exit code of a comparison whose gate found B worse beyond a threshold, significantly.
EXIT_FAILED = 1
#: The exit code of a gate that could not decide (too few runs, or a side without the figure): bad input, as click's.
EXIT_UNDECIDED = 2


def verdict_line(verdict: Verdict) -> str:
    """One line: the outcome, the change against the threshold, the test, its p-value and why that decides."""
    threshold = verdict.threshold
    head = f"gate {visible(threshold.text)}: {verdict.outcome}:"
    if not verdict.a_values or not verdict.b_values:
        side = "A" if not verdict.a_values else "B"
        return (f"{head} no run of side {side} recorded {threshold.figure}, so there is nothing to test; "
                f"compare runs that completed their training (status converged or not_converged)")
    counts = f"{len(verdict.a_values)} and {len(verdict.b_values)} runs"
    skipped = _missing(verdict)
    change = f"B's {threshold.figure} is {_change(verdict)} A's ({_means(verdict)}, {counts}{skipped})"
    allowed = f"the allowed {threshold.text.rpartition(':')[2]}"
    test = verdict.test
    assert test is not None  # both sides have values
    method = f"{TEST_NAME}, B against A shifted by the threshold ({test.splits} splits, {_exactness(test.exact)})"
    p_value = f"p = {_p(test.p_value)}"
    if not verdict.beyond:
        note = ""
        if test.smallest_p > ALPHA:
            note = (f"; {counts} are too few for the {TEST_NAME} to show significance at {ALPHA} "
                    f"(smallest possible p = {_p(test.smallest_p)}), so this pass rests on the change alone")
        return f"{head} {change}, within {allowed}{note}"
    if verdict.outcome == UNDECIDED:
        need = fewest_runs_per_side()
        return (f"{head} {change}, beyond {allowed}, but {counts} cannot show significance with a {TEST_NAME}: "
                f"its smallest possible p-value is {_p(test.smallest_p)}, above {ALPHA}; record at least {need} "
                f"runs per side (--repeat {need}) and compare again")
    if verdict.outcome == FAIL:
        return f"{head} {change}, beyond {allowed}, and significant: {method}: {p_value} <= {ALPHA}"
    return f"{head} {change}, beyond {allowed}, but not significant: {method}: {p_value} > {ALPHA}"


def with_gate(document: str, verdicts: Sequence[Verdict]) -> str:
    """The comparison's JSON ``document`` with the verdicts as its ``gate`` (and the exit code they give): a
    pipeline that reads the JSON needs no second parse of stderr to learn why the job failed."""
    data = json.loads(document)
    data["gate"] = {"exit_code": exit_code(verdicts), "alpha": ALPHA, "test": TEST_NAME,
                    "verdicts": [verdict_record(verdict) for verdict in verdicts]}
    return json.dumps(data, indent=2, ensure_ascii=True) + "\n"


def verdict_record(verdict: Verdict) -> dict[str, Any]:
    """One verdict's figures, unrounded, with the line stderr prints."""
    threshold, test = verdict.threshold, verdict.test
    return {
        "threshold": threshold.text,
        "figure": threshold.figure,
        "allowed_change": threshold.amount,
        "relative": threshold.relative,
        "better": threshold.better,
        "outcome": verdict.outcome,
        "a_values": list(verdict.a_values),
        "b_values": list(verdict.b_values),
        "a_missing": verdict.a_missing,
        "b_missing": verdict.b_missing,
        "change": verdict.change,
        "beyond": verdict.beyond,
        "p_value": test.p_value if test else None,
        "smallest_p": test.smallest_p if test else None,
        "splits": test.splits if test else None,
        "exact": test.exact if test else None,
        "line": verdict_line(verdict),
    }


def exit_code(verdicts: Sequence[Verdict]) -> int:
    """1 when any figure failed, else 2 when any was undecided, else 0."""
    outcomes = {verdict.outcome for verdict in verdicts}
    if FAIL in outcomes:
        return EXIT_FAILED
    return EXIT_UNDECIDED if UNDECIDED in outcomes else 0


def _change(verdict: Verdict) -> str:
    change = verdict.change
    if change is None:
        return "not comparable as a percentage with"
    direction = "higher than" if change > 0 else "lower than" if change < 0 else "the same as"
    if change == 0:
        return direction
    if verdict.threshold.relative:
        return f"{formatting.percent(abs(change))} {direction}"
    return f"{formatting.significant(abs(change))} {direction}"


def _means(verdict: Verdict) -> str:
    a_mean = sum(verdict.a_values) / len(verdict.a_values)
    b_mean = sum(verdict.b_values) / len(verdict.b_values)
    return f"mean {formatting.significant(b_mean)} against {formatting.significant(a_mean)}"


def _missing(verdict: Verdict) -> str:
    parts = [f"{count} run(s) of {side} without it left out"
             for side, count in (("A", verdict.a_missing), ("B", verdict.b_missing)) if count]
    return "; " + ", ".join(parts) if parts else ""


def _exactness(exact: bool) -> str:
    return "all of them" if exact else "a fixed-seed sample"


def _p(value: float) -> str:
    return formatting.significant(value, 2)

