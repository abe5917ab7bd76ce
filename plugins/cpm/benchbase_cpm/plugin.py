"""Entry point of the CPM case: registered through the ``benchbase`` group like any third-party plugin."""

from __future__ import annotations

from collections.abc import Callable

from benchbase.contract import Case
from benchbase.hookspecs import hookimpl
from benchbase_cpm.case import CPMCase


@hookimpl
def benchbase_register_cases(register: Callable[[Case], None]) -> None:
    register(CPMCase())
