"""Telemetry through an NVML-compatible management library, shared by the vendors that have one.

NVIDIA's NVML and its clones (Iluvatar's ixml, loaded through the same ``pynvml`` bindings) answer the same calls in
the same units, but each board supports a different subset. Every query is therefore made on its own and a refusal
(``NotSupported``, ``FunctionNotFound``, ``NoPermission``, a lost GPU) becomes ``None`` for that one field: the sampler
keeps running and the record shows the sensor as unavailable, never as zero.

Units NVML returns: power in milliwatts, energy in millijoules, memory in bytes, utilisation in percent, temperature
in degrees Celsius, clocks in MHz. The energy counter (``nvmlDeviceGetTotalEnergyConsumption``, Volta and newer) counts
from the last driver load, so only its differences mean anything; ``telemetry.csv`` keeps it as read, in joules.

Power: ``nvmlDeviceGetPowerUsage`` returns "power averaged over 1 sec interval" on Ampere (except GA100) and newer
GPUs, instantaneous power on GA100 and older (NVIDIA NVML API Reference, Device Queries, ``nvmlDeviceGetPowerUsage``:
https://docs.nvidia.com/deploy/nvml-api/group__nvmlDeviceQueries.html). Samples at 10 Hz of a 1 s average are not
independent, and cutting an evaluation out by timestamp would leak up to a second of it into the training mean. So the
instant reading, the field ``NVML_FI_DEV_POWER_INSTANT`` (nvml.h: "current instant power usage in milliwatts"; read
through ``nvmlDeviceGetFieldValues``, NVML API Reference, Field Value Queries), is used on every device whose driver
answers it when the sensors open, and ``nvmlDeviceGetPowerUsage`` on the others (older drivers, clones such as ixml).
The choice is made once per device, so a run's readings are all of one kind; :func:`power_reading` names it, and
``env.json`` records it for each device (``devices[i].power_reading``).

Temperature: ``nvmlDeviceGetTemperature`` is deprecated ("use nvmlDeviceGetTemperatureV instead; will be removed in
CUDA 14.0", nvml.h and nvidia-ml-py's pynvml). ``nvmlDeviceGetTemperatureV`` takes an ``nvmlTemperature_t`` (its
``version``, ``sensorType`` and the ``temperature`` it fills in); nvidia-ml-py exposes it as
``nvmlDeviceGetTemperatureV(handle, sensor)`` returning the degrees. It is asked first, and the old call where the
driver or the pynvml lacks it.
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


#: What :func:`power_reading` calls each source, as ``env.json`` records it: the call a reader can look up.
INSTANT_POWER = "nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT)"
AVERAGE_POWER = "nvmlDeviceGetPowerUsage"
#: The member of NVML's ``nvmlValue_t`` union that holds a field value of each ``nvmlValueType_t`` (nvml.h order:
#: double, unsigned int, unsigned long, unsigned long long, signed long long, signed int, unsigned short).
_VALUE_MEMBERS = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")


def instant_power(nvml: Any, handle: Any) -> float | None:
    """The raw ``NVML_FI_DEV_POWER_INSTANT`` field (milliwatts), or ``None`` where the library, its pynvml or the
    board does not answer it: no ``nvmlDeviceGetFieldValues`` or no such field id in the pynvml, a refused call
    (``FunctionNotFound`` from a clone), or the field's own return code saying not supported."""
    query = getattr(nvml, "nvmlDeviceGetFieldValues", None)
    field_id = getattr(nvml, "NVML_FI_DEV_POWER_INSTANT", None)
    if query is None or field_id is None:
        return None
    values = nvml_value(nvml, query, handle, [field_id])
    if not values:
        return None
    value = values[0]
    if getattr(value, "nvmlReturn", None) != getattr(nvml, "NVML_SUCCESS", 0):
        return None
    kind = getattr(value, "valueType", None)
    if not isinstance(kind, int) or not 0 <= kind < len(_VALUE_MEMBERS):
        return None
    return float(getattr(value.value, _VALUE_MEMBERS[kind]))


def power_reading(nvml: Any, handle: Any) -> str:
    """Which call this device's power is read through: :data:`INSTANT_POWER` where the field answers now, else
    :data:`AVERAGE_POWER`."""
    return INSTANT_POWER if instant_power(nvml, handle) is not None else AVERAGE_POWER


def nvml_temperature(nvml: Any, handle: Any) -> float | None:
    """The GPU's temperature through ``nvmlDeviceGetTemperatureV`` where the library and pynvml have it, else the
    deprecated ``nvmlDeviceGetTemperature``; ``None`` when neither answers."""
    for name in ("nvmlDeviceGetTemperatureV", "nvmlDeviceGetTemperature"):
        query = getattr(nvml, name, None)
        value = nvml_value(nvml, query, handle, nvml.NVML_TEMPERATURE_GPU) if query is not None else None
        if value is not None:
            return float(getattr(value, "temperature", value))  # an nvmlTemperature_t from a binding that returns it
    return None


def read_nvml_device(
    nvml: Any,
    handle: Any,
    device: int,
    power_to_watts: Callable[[float], float] = milliwatts_to_watts,
    source: str = AVERAGE_POWER,
) -> SensorReading:
    """One sample of one device. ``power_to_watts`` converts the raw power reading (NVML: milliwatts); ``source``
    is the device's :func:`power_reading`, kept for the whole run (a failed instant read is ``None``, not an
    average in its place)."""
    if source == INSTANT_POWER:
        power = instant_power(nvml, handle)
    else:
        power = nvml_value(nvml, nvml.nvmlDeviceGetPowerUsage, handle)
    energy = nvml_value(nvml, nvml.nvmlDeviceGetTotalEnergyConsumption, handle)
    memory = nvml_memory(nvml, handle)
    utilization = nvml_value(nvml, nvml.nvmlDeviceGetUtilizationRates, handle)
    temperature = nvml_temperature(nvml, handle)
    clock = nvml_value(nvml, nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM)
    return SensorReading(
        device=device,
        power_w=power_to_watts(float(power)) if power is not None else None,
        energy_j=float(energy) / 1000.0 if energy is not None else None,
        memory_used_gib=memory.used / _GIB if memory is not None else None,
        memory_total_gib=memory.total / _GIB if memory is not None else None,
        utilization_pct=float(utilization.gpu) if utilization is not None else None,
        temperature_c=temperature,
        clock_mhz=float(clock) if clock is not None else None,
    )


class NvmlSensors(Sensors):
    """Polls a fixed list of devices: ``devices`` pairs each recorded device number with its library handle. Each
    device's power source (:func:`power_reading`) is chosen when the sensors open and kept."""

    def __init__(
        self,
        nvml: Any,
        devices: Sequence[tuple[int, Any]],
        close: Callable[[], None],
        power_to_watts: Callable[[float], float] = milliwatts_to_watts,
    ) -> None:
        self._nvml = nvml
        self._devices = [(index, handle, power_reading(nvml, handle)) for index, handle in devices]
        self._close = close
        self._power_to_watts = power_to_watts

    def read(self) -> list[SensorReading]:
        return [
            read_nvml_device(self._nvml, handle, index, self._power_to_watts, source)
            for index, handle, source in self._devices
        ]

    def close(self) -> None:
        self._close()
