"""Which devices and CPUs this node's ranks get: discovery, the vendor's binding per rank, fitted to the CPUs this
process may use."""

from __future__ import annotations

import os
from pathlib import Path

from benchbase.contract import Binding, DeviceInfo, Vendor
from benchbase.errors import BenchbaseError
from benchbase.hardware import topology
from benchbase.registry import checked


def bindings_for(vendor: Vendor, nproc: int, device_indices: list[int], sysfs_root: Path) -> list[Binding | None]:
    """Per local rank, the CPUs local to its device, from the vendor's reading of real topology."""
    return [
        checked.call(vendor, "binding()", checked.BINDING, vendor.binding, rank, device_indices[rank], sysfs_root,
                     local_world_size=nproc)
        for rank in range(nproc)
    ]


def fitted_bindings(planned: list[Binding | None], sysfs_root: Path) -> tuple[list[Binding | None], str | None]:
    """The bindings the ranks can apply here: narrowed to the CPUs this process may use, which the ranks inherit
    (a Slurm task's, a container's), with one line when that changed them."""
    return topology.fit_to_allowed(sysfs_root, planned, os.sched_getaffinity(0))


def discovered_devices(vendor: Vendor) -> list[DeviceInfo]:
    """The vendor's devices on this machine; none is refused in one line."""
    devices = checked.call(vendor, "discover()", checked.DEVICES, vendor.discover)
    if not devices:
        raise BenchbaseError(f"vendor '{vendor.name}' found no devices", "check the driver, or pick another --vendor")
    return list(devices)


def assign_devices(vendor: Vendor, nproc: int, devices: list[DeviceInfo]) -> list[int]:
    """The device of each local rank: the first one for every rank where ranks share it, else one each, refusing
    more processes per node than there are devices."""
    if vendor.ranks_share_devices:
        return [devices[0].index] * nproc
    if len(devices) < nproc:
        raise BenchbaseError(
            f"--config asks for {nproc} processes per node but vendor '{vendor.name}' found {len(devices)} device(s)",
            f"use --config Nx{len(devices)} or run on a node with more devices",
        )
    return [d.index for d in devices[:nproc]]
