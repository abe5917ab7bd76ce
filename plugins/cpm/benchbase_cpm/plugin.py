"""Entry point of the CPM case: registered through the ``benchbase`` group like any third-party plugin."""

from __future__ import annotations

from collections.abc import Callable

from benchbase import Case, hookimpl
from benchbase.kit import CaseProfile
from benchbase_cpm.case import CPMCase


@hookimpl
def benchbase_register_cases(register: Callable[[Case], None]) -> None:
    register(CPMCase())


@hookimpl
def benchbase_mlperf_profile(case: str) -> CaseProfile | None:
    """CPM's benchmark names, ruleset and recipe keys for ``benchbase export mlperf`` (docs/mlperf.md)."""
    if case != CPMCase.name:
        return None
    from benchbase_cpm.mlperf import PROFILE

    return PROFILE
