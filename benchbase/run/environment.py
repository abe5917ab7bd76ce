"""``env.json``: what a run ran on and with, written once at its start."""

from __future__ import annotations

from typing import Any

from benchbase.hardware.host import host_facts
from benchbase.launch.plan import LaunchPlan
from benchbase.registry import bounded
from benchbase.run.request import RunRequest


def environment_record(request: RunRequest, plan: LaunchPlan, device_indices: list[int]) -> dict[str, Any]:
    """``env.json``: host, vendor facts, devices, precision, peak FLOP/s, binding and the launch plan, and which
    distribution (and version) supplied the case and the vendor, so a record names the code that produced it."""
    from benchbase.registry.plugins import provenance

    vendor = request.vendor
    requested = request.resolved.core.precision
    precision = bounded.call(vendor, "precision_policy()", vendor.precision_policy, requested)
    devices = bounded.call(vendor, "discover()", vendor.discover)
    return {
        "host": host_facts(),
        "vendor": {"name": vendor.name, **bounded.call(vendor, "environment()", vendor.environment)},
        "plugins": {"case": provenance("case", request.case), "vendor": provenance("vendor", vendor)},
        "device_model": devices[0].model if devices else vendor.default_device_model,
        "devices": [
            {"index": d.index, "model": d.model, "memory_total_gib": d.memory_total_gib, "pci_bus_id": d.pci_bus_id,
             **dict(d.extra)}
            for d in devices
        ],
        "local_devices": device_indices,
        "precision": precision.describe(),
        "peak_flops_per_device": bounded.call(vendor, "peak_flops()", vendor.peak_flops, precision.flops_dtype),
        "launch": plan.describe(),
    }
