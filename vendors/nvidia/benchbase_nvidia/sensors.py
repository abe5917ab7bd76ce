"""NVML telemetry for the devices of one node (power, energy counter, memory, utilisation, temperature, SM clock)."""

from __future__ import annotations

from typing import Any

from benchbase.nvml_like import NvmlSensors
from benchbase_nvidia.nvml import NvmlSession


def open_nvml_sensors(device_indices: list[int], nvml: Any | None = None) -> NvmlSensors:
    """Sensors for the given CUDA device indices; NVML stays initialised until the sensors are closed."""
    session = NvmlSession.open(nvml)
    missing = [i for i in device_indices if not 0 <= i < len(session.handles)]
    if missing:
        session.close()
        raise ValueError(f"devices {missing} are not among the {len(session.handles)} visible NVIDIA GPUs")
    return NvmlSensors(session.nvml, [(i, session.handles[i]) for i in device_indices], session.close)
