"""Entry point ``nvidia`` of the ``benchbase`` group: registers the NVIDIA vendor as a third-party plugin would."""

from __future__ import annotations

from collections.abc import Callable

from benchbase.contract import Vendor
from benchbase.hookspecs import hookimpl
from benchbase_nvidia.vendor import NvidiaVendor


@hookimpl
def benchbase_register_vendors(register: Callable[[Vendor], None]) -> None:
    register(NvidiaVendor())
