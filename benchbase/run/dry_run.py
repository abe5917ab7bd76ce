"""``--dry-run``: every check a run makes before its record exists, and the plan it would launch, starting nothing.

Apart from the supervisor so a dry run imports only the checks (:mod:`benchbase.run.preflight`): the supervisor's
record, launch and live view are not needed to plan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchbase.run.preflight import clear_to_launch, plan_for, prepare_in_cache
from benchbase.run.request import RunRequest


def dry_run_plan(request: RunRequest, prepare: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """What ``--dry-run`` prints: the precision, bindings and launch command, after every check the run makes before
    its record exists (:func:`clear_to_launch`, which refuses what the run refuses), starting nothing."""
    cleared = clear_to_launch(request, lambda: prepare_in_cache(prepare, request.cache_dir), lambda *_: None,
                              elsewhere_allowed=True)
    # The plan as the topology has it (another machine's, where no device is here or --sysfs-root names a recorded
    # tree), with the line a launch on this machine would print.
    plan = plan_for(request, None, cleared.planned_bindings, cleared.binding_note)
    return {
        "devices_detected": cleared.not_here is None,
        "not_here": cleared.not_here,
        "precision": cleared.precision.describe(),
        "parallelism": request.resolved.core.parallelism,
        "memory": cleared.memory.describe() if cleared.memory is not None else None,
        "memory_budget_gib": cleared.memory_budget_gib,
        "launch": plan.describe(),
    }
