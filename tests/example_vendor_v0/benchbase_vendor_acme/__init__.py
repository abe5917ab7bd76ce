# benchbase_vendor_acme/__init__.py
"""ACME A1: an imaginary accelerator, simulated on the host CPU so this example runs anywhere.

A real plugin replaces the stand-ins (the device, synchronisation, precision, sensors) with calls into its runtime.
"""

import os
from pathlib import Path

import torch

from benchbase.contract import DeviceInfo, PrecisionPolicy, SensorReading, Sensors, Vendor
from benchbase.errors import BenchbaseError
from benchbase.hookspecs import hookimpl

FP32 = PrecisionPolicy(name="fp32", label="FP32", autocast_dtype=None, flops_dtype="fp32")
BF16 = PrecisionPolicy(name="bf16", label="BF16", autocast_dtype=torch.bfloat16, flops_dtype="bf16")


class HostLoadSensor(Sensors):
    """Reports the host's 1-minute load as utilisation; power is unknown, so it is None (never 0)."""

    def read(self):
        load = os.getloadavg()[0] / (os.cpu_count() or 1) * 100
        return [SensorReading(device=0, utilization_pct=round(load, 1))]


class AcmeVendor(Vendor):
    name = "acme"
    description = "ACME A1 (example third-party plugin, simulated on the CPU)"
    distributed_backend = "gloo"  # the torch.distributed backend of your collective library
    default_device_model = "A1"  # whose tuned configs --config NxM picks when no device is detected
    ranks_share_devices = True  # the stand-in: all ranks share the host; a real accelerator has one device per rank
    config_dir = Path(__file__).parent / "configs"  # tuned files: configs/<case>/<DEVICE>x<N>x<M>.yaml

    def discover(self):  # a real plugin asks its runtime, and raises BenchbaseError saying what it looked for
        return [DeviceInfo(index=0, model="A1")]

    def environment(self):  # recorded in env.json; "sdk" is printed in the report's Configuration column
        return {"sdk": "ACME SDK 1.2.3", "device_model": "A1"}

    def setup_device(self, local_rank):  # a real plugin selects its own device, e.g. torch.device("acme", local_rank)
        return torch.device("cpu")  # the stand-in

    def precision_policy(self, requested):  # honour what the config asks for; refuse what the chip cannot do
        if requested in ("auto", "fp32"):
            return FP32
        if requested in ("bf16", "amp"):
            return BF16
        raise BenchbaseError(f"ACME A1 does not run precision '{requested}'", "use --set precision=fp32 or bf16")

    def open_sensors(self, device_indices):
        return HostLoadSensor()


@hookimpl
def benchbase_register_vendors(register):
    register(AcmeVendor())
