"""ACME A1: an imaginary accelerator, simulated on the host CPU so this example runs anywhere.

A real plugin replaces the device, synchronisation, precision and sensor methods with calls into its own runtime.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from benchbase.contract import DeviceInfo, PrecisionPolicy, SensorReading, Sensors, Vendor
from benchbase.errors import BenchbaseError
from benchbase.hookspecs import hookimpl


class _HostLoadSensor(Sensors):
    """Reports the host's 1-minute load as utilisation; power is unknown, so it is None (never 0)."""

    def read(self) -> list[SensorReading]:
        load = os.getloadavg()[0] / max(os.cpu_count() or 1, 1) * 100
        return [SensorReading(device=0, utilization_pct=round(load, 1))]


class AcmeVendor(Vendor):
    name = "acme"
    description = "ACME A1 (example third-party plugin, simulated on the CPU)"
    default_device_model = "A1"
    ranks_share_devices = True

    def discover(self) -> list[DeviceInfo]:
        return [DeviceInfo(index=0, model="A1")]

    def environment(self) -> dict:
        return {"sdk": "ACME SDK 1.2.3", "device_model": "A1"}

    def setup_device(self, local_rank: int) -> torch.device:
        return torch.device("cpu")

    def precision_policy(self, requested: str) -> PrecisionPolicy:
        if requested not in ("auto", "fp32"):
            raise BenchbaseError(f"ACME A1 does not run precision '{requested}'", "use --set precision=fp32")
        return PrecisionPolicy(name="fp32", label="FP32", autocast_dtype=None, flops_dtype="fp32")

    def open_sensors(self, device_indices: list[int]) -> Sensors:
        return _HostLoadSensor()


@hookimpl
def benchbase_register_vendors(register: Callable[[Vendor], None]) -> None:
    register(AcmeVendor())
