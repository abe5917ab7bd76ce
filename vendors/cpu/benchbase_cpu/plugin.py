"""Entry point ``cpu`` of the ``benchbase`` group: registers the CPU vendor exactly as a third-party plugin would."""

from __future__ import annotations

from collections.abc import Callable

from benchbase.contract import Vendor
from benchbase.hookspecs import hookimpl
from benchbase_cpu.vendor import CPUVendor


@hookimpl
def benchbase_register_vendors(register: Callable[[Vendor], None]) -> None:
    register(CPUVendor())
