"""``env.json``: what a run ran on and with, written once at its start."""

from __future__ import annotations

from typing import Any

from benchbase.contract import PrecisionPolicy, Vendor
from benchbase.hardware.container import container_facts
from benchbase.hardware.host import host_facts
from benchbase.launch.plan import LaunchPlan
from benchbase.record.schema import ENV_CONTAINER, ENV_PROVENANCE
from benchbase.registry import checked
from benchbase.run.provenance import provenance_record
from benchbase.run.request import RunRequest


def environment_record(
    request: RunRequest, plan: LaunchPlan, device_indices: list[int], precision: PrecisionPolicy
) -> dict[str, Any]:
    """``env.json`` but for its host (:func:`with_host`): vendor facts, devices, precision, peak FLOP/s, binding and
    the launch plan, the container and batch job it ran in, and which distribution (and version) supplied the case
    and the vendor, so a record names the code that produced it. ``precision`` is the vendor's answer the run was
    cleared with (:mod:`benchbase.run.preflight`)."""
    from benchbase.registry.plugins import provenance

    vendor = request.vendor
    devices = checked.call(vendor, "discover()", checked.DEVICES, vendor.discover)
    return {
        "vendor": {"name": vendor.name, **checked.call(vendor, "environment()", checked.FACTS, vendor.environment)},
        "plugins": {"case": provenance("case", request.case), "vendor": provenance("vendor", vendor)},
        "device_model": devices[0].model if devices else vendor.default_device_model,
        "devices": [
            {"index": d.index, "model": d.model, "memory_total_gib": d.memory_total_gib, "pci_bus_id": d.pci_bus_id,
             **dict(d.extra)}
            for d in devices
        ],
        "local_devices": device_indices,
        "precision": precision.describe(),
        "peak_flops_per_device": checked.call(vendor, "peak_flops()", checked.PEAK_FLOPS, vendor.peak_flops,
                                              precision.flops_dtype),
        "launch": plan.describe(),
        ENV_CONTAINER: container_facts(),
    }


def with_host(env: dict[str, Any], vendor: Vendor) -> dict[str, Any]:
    """``env.json`` whole: the host's facts first, then ``env``, then its provenance (:mod:`.provenance`). Added
    when the record is written rather than when the run is cleared, because the host's facts and the libraries
    include what only the imported torch knows (its threads, MKL, the TF32 switches, NCCL's version): a run
    imports torch anyway, ``--dry-run``, which makes every check of a run, need not."""
    return {"host": host_facts(), **env, ENV_PROVENANCE: provenance_record(vendor)}
