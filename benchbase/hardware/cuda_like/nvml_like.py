"""Telemetry through an NVML-compatible management library, shared by the vendors that have one.

NVIDIA's NVML and its clones (Iluvatar's ixml, loaded through the same ``pynvml`` bindings) answer the same calls in
the same units, but each board supports a different subset. Every query is therefore made on its own and a refusal
(``NotSupported``, ``FunctionNotFound``, ``NoPermission``, a lost GPU) becomes ``None`` for that one field: the sampler
keeps running and the record shows the sensor as unavailable, never as zero.

Units NVML returns: power in milliwatts, energy in millijoules, memory in bytes, utilisation in percent, temperature
in degrees Celsius, clocks in MHz. The energy counter (``nvmlDeviceGetTotalEnergyConsumption``, Volta and newer) counts
from the last driver load, so only its differences mean anything; ``telemetry.csv`` keeps it as read, in joules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from benchbase.contract import SensorReading, Sensors

_GIB = float(2**30)


def milliwatts_to_watts(raw: float) -> float:
    return raw / 1000.0


def nvml_value(nvml: Any, query: Callable[..., Any], *args: Any) -> Any:
    """``query(*args)``, or ``None`` when the library refuses it (any ``NVMLError``)."""
    try:
        return query(*args)
    except nvml.NVMLError:
        return None


def nvml_memory(nvml: Any, handle: Any) -> Any:
    """The device's memory through ``nvmlDeviceGetMemoryInfo_v2`` where the library and pynvml have it, else v1.

    v1's ``used`` is documented as "Sum of Reserved and Allocated device memory": on recent drivers it includes what
    the driver sets aside for itself (hundreds of MiB on an idle A100). v2 reports that ``reserved`` apart and its
    ``used`` is what was allocated, the figure ``nvidia-smi`` shows as used. Drivers before v2 (e.g. R470) answer
    ``FunctionNotFound``, and a pynvml too old for v2 has no ``nvmlMemory_v2``; both get v1. ``None`` when neither
    call answers.
    """
    version = getattr(nvml, "nvmlMemory_v2", None)
    if version is not None:
        memory = nvml_value(nvml, nvml.nvmlDeviceGetMemoryInfo, handle, version)
        if memory is not None:
            return memory
    return nvml_value(nvml, nvml.nvmlDeviceGetMemoryInfo, handle)


def read_nvml_device(
    nvml: Any, handle: Any, device: int, power_to_watts: Callable[[float], float] = milliwatts_to_watts
) -> SensorReading:
    """One sample of one device. ``power_to_watts`` converts the raw power reading (NVML: milliwatts)."""
    power = nvml_value(nvml, nvml.nvmlDeviceGetPowerUsage, handle)
    energy = nvml_value(nvml, nvml.nvmlDeviceGetTotalEnergyConsumption, handle)
    memory = nvml_memory(nvml, handle)
    utilization = nvml_value(nvml, nvml.nvmlDeviceGetUtilizationRates, handle)
    temperature = nvml_value(nvml, nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
    clock = nvml_value(nvml, nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM)
    return SensorReading(
        device=device,
        power_w=power_to_watts(float(power)) if power is not None else None,
        energy_j=float(energy) / 1000.0 if energy is not None else None,
        memory_used_gib=memory.used / _GIB if memory is not None else None,
        memory_total_gib=memory.total / _GIB if memory is not None else None,
        utilization_pct=float(utilization.gpu) if utilization is not None else None,
        temperature_c=float(temperature) if temperature is not None else None,
        clock_mhz=float(clock) if clock is not None else None,
    )


class NvmlSensors(Sensors):
    """Polls a fixed list of devices: ``devices`` pairs each recorded device number with its library handle."""

    def __init__(
        self,
        nvml: Any,
        devices: Sequence[tuple[int, Any]],
        close: Callable[[], None],
        power_to_watts: Callable[[float], float] = milliwatts_to_watts,
    ) -> None:
        self._nvml = nvml
        self._devices = list(devices)
        self._close = close
        self._power_to_watts = power_to_watts

    def read(self) -> list[SensorReading]:
        return [read_nvml_device(self._nvml, h, index, self._power_to_watts) for index, h in self._devices]

    def close(self) -> None:
        self._close()
