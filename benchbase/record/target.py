"""Whether a metric value reaches its target, and which way is better: the one rule every reader of a record uses.

A case's metric says whether higher is better (an accuracy) or lower (a perplexity); the target is a bound on the
side the metric improves towards. The training loop decides convergence with this rule, ``benchbase verify``
rechecks it, the report orders and compares with it and the MLPerf export follows it, so none of them can read a
lower-is-better target as a lower bound. A record made before the direction was recorded holds no
``higher_is_better``: such a record's metric is higher-is-better, the only kind there was.
"""

from __future__ import annotations

from typing import Any

HIGHER = "higher"
LOWER = "lower"


def higher_is_better(recorded: Any) -> bool:
    """The direction a summary's ``higher_is_better`` says; absent (an older record) or not a boolean: higher."""
    return recorded is not False


def reaches(value: float, target: float, higher_is_better: bool = True) -> bool:
    """Whether ``value`` is at or beyond ``target`` on the better side; a NaN value reaches nothing."""
    return value >= target if higher_is_better else value <= target


def better_direction(higher_is_better: bool) -> str:
    """``"higher"`` or ``"lower"``: the word the report's comparisons use for which way is better."""
    return HIGHER if higher_is_better else LOWER


def bound_sign(higher_is_better: bool) -> str:
    """The comparison a target is shown with: ``metric ≥ target`` or ``metric ≤ target``."""
    return "≥" if higher_is_better else "≤"
