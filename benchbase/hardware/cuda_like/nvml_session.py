"""Device enumeration through an NVML-compatible library driven by the ``pynvml`` bindings.

NVIDIA's NVML and its clones (Iluvatar's ixml) count every board in the machine in their own (PCI) order and ignore
``CUDA_VISIBLE_DEVICES``; a session keeps the handles of the devices CUDA would show, in CUDA's order, so device
``i`` of a record is ``cuda:i`` of the ranks. How CUDA orders the boards before ``CUDA_VISIBLE_DEVICES`` applies is
the vendor's to say (:meth:`NvmlStyleSession._cuda_enumeration`). Subclasses say how their library is initialised
and worded in errors; what a device is called and which extra facts it carries is theirs too.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from benchbase.contract import DeviceInfo, Sensors
from benchbase.hardware.cuda_like.visible import visible_device_order
from benchbase.errors import BenchbaseError
from benchbase.hardware.cuda_like.nvml_like import (
    NvmlSensors,
    milliwatts_to_watts,
    nvml_memory,
    nvml_value,
    power_reading,
)
from benchbase.hardware.topology import normalise_pci_bus_id

_GIB = float(2**30)


def import_pynvml(problem: str, fix: str) -> ModuleType:
    """The ``pynvml`` module, imported only when a vendor first looks for devices (importing it loads no library;
    ``nvmlInit`` does). ``problem`` says what cannot be done without it, ``fix`` what to do."""
    try:
        return importlib.import_module("pynvml")
    except ImportError as exc:
        raise BenchbaseError(f"{problem}: the nvidia-ml-py package is not installed ({exc})", fix) from exc


def sysfs_bus_id(raw: bytes | str) -> str | None:
    """A PCI address as the library wrote it, in sysfs form; ``None`` when the library left the field empty."""
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return normalise_pci_bus_id(text) if text else None


class NvmlStyleSession(ABC):
    """An initialised library (``nvml``, the pynvml module) and the visible devices' handles.

    ``close`` shuts the library down; pynvml reference-counts initialisations, so sessions may overlap.
    """

    #: Product name recorded when the library will not say one.
    unknown_name: str = "unknown device"

    def __init__(self, nvml: Any, visible: str | None) -> None:
        self.nvml = nvml
        try:
            self._init()
        except nvml.NVMLError as exc:
            raise self._init_error(exc) from exc
        try:
            physical = [self._handle(i) for i in range(self._count())]
            uuids = [nvml_value(nvml, nvml.nvmlDeviceGetUUID, h) for h in physical]
            enumeration = self._cuda_enumeration(physical)
            order = [enumeration[i] for i in visible_device_order(visible, [uuids[p] for p in enumeration])]
        except nvml.NVMLError as exc:
            nvml.nvmlShutdown()
            raise self._listing_error(exc) from exc
        except BenchbaseError:
            nvml.nvmlShutdown()
            raise
        #: Every board the library counts, visible or not (it ignores ``CUDA_VISIBLE_DEVICES``).
        self.physical_count = len(physical)
        self.physical_indices = order
        self.handles = [physical[i] for i in order]

    @abstractmethod
    def _init_error(self, exc: Exception) -> BenchbaseError:
        """The one-line error for a library that would not initialise (``exc`` is pynvml's)."""

    @abstractmethod
    def _listing_error(self, exc: Exception) -> BenchbaseError:
        """The one-line error for a library that initialised but could not list the devices."""

    @abstractmethod
    def _model(self, long_name: str) -> str:
        """The short model name tuned config files are named after."""

    @abstractmethod
    def _extra(self, physical: int, handle: Any) -> dict[str, Any]:
        """Vendor facts for :attr:`DeviceInfo.extra`, besides the product ``name`` every session records."""

    def _cuda_enumeration(self, physical: Sequence[Any]) -> list[int]:
        """The library's indices of ``physical`` in the order CUDA numbers the devices before
        ``CUDA_VISIBLE_DEVICES`` picks among them (its numeric entries count in this order).

        The library's own order unless the vendor knows CUDA's rule for its stack (NVIDIA: ``CUDA_DEVICE_ORDER``).
        """
        return list(range(len(physical)))

    # Clones that lack some symbol pynvml asks for (ixml has no nvmlInitWithFlags) override these with fallbacks.
    def _init(self) -> None:
        self.nvml.nvmlInit()

    def _count(self) -> int:
        return int(self.nvml.nvmlDeviceGetCount())

    def _handle(self, index: int) -> Any:
        return self.nvml.nvmlDeviceGetHandleByIndex(index)

    def _power_watts(self, raw: float) -> float:
        """The raw power reading in watts; NVML reports milliwatts, a clone that does otherwise overrides this."""
        return milliwatts_to_watts(raw)

    def pci_bus_id(self, handle: Any) -> str | None:
        """The device's PCI address in sysfs form; ``None`` when the library will not say."""
        info = nvml_value(self.nvml, self.nvml.nvmlDeviceGetPciInfo, handle)
        return sysfs_bus_id(info.busId) if info is not None else None

    def devices(self) -> list[DeviceInfo]:
        found = []
        for index, (physical, handle) in enumerate(zip(self.physical_indices, self.handles)):
            name = str(nvml_value(self.nvml, self.nvml.nvmlDeviceGetName, handle) or self.unknown_name)
            memory = nvml_memory(self.nvml, handle)
            found.append(
                DeviceInfo(
                    index=index,
                    model=self._model(name),
                    memory_total_gib=memory.total / _GIB if memory is not None else None,
                    pci_bus_id=self.pci_bus_id(handle),
                    extra={"name": name, "power_reading": power_reading(self.nvml, handle),
                           **self._extra(physical, handle)},
                )
            )
        return found

    def driver_version(self) -> str | None:
        value = nvml_value(self.nvml, self.nvml.nvmlSystemGetDriverVersion)
        return str(value) if value is not None else None

    def open_sensors(self, device_indices: Sequence[int]) -> Sensors:
        """Sensors that keep this session open until they are closed."""
        return NvmlSensors(self.nvml, [(i, self.handles[i]) for i in device_indices], self.close, self._power_watts)

    def close(self) -> None:
        self.nvml.nvmlShutdown()
