"""NVIDIA's management library (NVML, through the ``pynvml`` module of nvidia-ml-py), opened only when needed.

NVML counts every board in the machine in PCI order and ignores ``CUDA_VISIBLE_DEVICES``; a session here keeps the
handles of the devices CUDA would show, in CUDA's order, so device ``i`` of a record is ``cuda:i`` of the ranks.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

from benchbase.contract import DeviceInfo
from benchbase.cuda_like import visible_device_order
from benchbase.errors import BenchbaseError
from benchbase.nvml_like import nvml_value
from benchbase.topology import normalise_pci_bus_id
from benchbase_nvidia.models import short_model

_GIB = float(2**30)
_NO_GPU_FIX = "run on a machine with an NVIDIA driver, or pick another --vendor"


def import_pynvml() -> ModuleType:
    """The ``pynvml`` module; importing it loads no library (that happens in ``nvmlInit``)."""
    try:
        return importlib.import_module("pynvml")
    except ImportError as exc:
        raise BenchbaseError(
            f"no NVIDIA GPU found: the nvidia-ml-py package is not installed ({exc})",
            "pip install nvidia-ml-py, or pick another --vendor",
        ) from exc


class NvmlSession:
    """An initialised NVML and the visible devices' handles; ``close`` shuts NVML down (it is reference counted)."""

    def __init__(self, nvml: Any, visible: str | None = None) -> None:
        self.nvml = nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            raise BenchbaseError(f"no NVIDIA GPU found: NVML could not be initialised ({exc})", _NO_GPU_FIX) from exc
        try:
            count = nvml.nvmlDeviceGetCount()
            physical = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            uuids = [nvml_value(nvml, nvml.nvmlDeviceGetUUID, h) for h in physical]
            order = visible_device_order(visible, uuids)
        except nvml.NVMLError as exc:
            nvml.nvmlShutdown()
            raise BenchbaseError(f"no NVIDIA GPU found: NVML could not list the devices ({exc})", _NO_GPU_FIX) from exc
        except BenchbaseError:
            nvml.nvmlShutdown()
            raise
        if not order:
            nvml.nvmlShutdown()
            raise BenchbaseError(
                f"no NVIDIA GPU found: NVML sees {count} device(s), {len(order)} visible under CUDA_VISIBLE_DEVICES",
                _NO_GPU_FIX,
            )
        self.physical_indices = order
        self.handles = [physical[i] for i in order]

    @classmethod
    def open(cls, nvml: Any | None = None) -> NvmlSession:
        return cls(nvml if nvml is not None else import_pynvml(), os.environ.get("CUDA_VISIBLE_DEVICES"))

    def long_name(self, handle: Any) -> str:
        return str(nvml_value(self.nvml, self.nvml.nvmlDeviceGetName, handle) or "unknown NVIDIA GPU")

    def pci_bus_id(self, handle: Any) -> str | None:
        info = nvml_value(self.nvml, self.nvml.nvmlDeviceGetPciInfo, handle)
        if info is None:
            return None
        bus_id = info.busId.decode() if isinstance(info.busId, bytes) else str(info.busId)
        return normalise_pci_bus_id(bus_id)

    def compute_capability(self, handle: Any) -> tuple[int, int] | None:
        value = nvml_value(self.nvml, self.nvml.nvmlDeviceGetCudaComputeCapability, handle)
        return (int(value[0]), int(value[1])) if value is not None else None

    def cpu_affinity(self, handle: Any) -> tuple[int, ...]:
        """CPUs NVML calls ideal for the device (a bitmask in 64-bit words); empty when unsupported."""
        words = -(-(os.cpu_count() or 1) // 64)
        mask = nvml_value(self.nvml, self.nvml.nvmlDeviceGetCpuAffinity, handle, words)
        if mask is None:
            return ()
        return tuple(w * 64 + bit for w, word in enumerate(mask) for bit in range(64) if int(word) >> bit & 1)

    def devices(self) -> list[DeviceInfo]:
        found = []
        for index, (physical, handle) in enumerate(zip(self.physical_indices, self.handles)):
            memory = nvml_value(self.nvml, self.nvml.nvmlDeviceGetMemoryInfo, handle)
            long_name = self.long_name(handle)
            capability = self.compute_capability(handle)
            found.append(
                DeviceInfo(
                    index=index,
                    model=short_model(long_name),
                    memory_total_gib=memory.total / _GIB if memory is not None else None,
                    pci_bus_id=self.pci_bus_id(handle),
                    extra={
                        "name": long_name,
                        "nvml_index": physical,
                        "uuid": nvml_value(self.nvml, self.nvml.nvmlDeviceGetUUID, handle),
                        "compute_capability": f"{capability[0]}.{capability[1]}" if capability else None,
                    },
                )
            )
        return found

    def driver_version(self) -> str | None:
        value = nvml_value(self.nvml, self.nvml.nvmlSystemGetDriverVersion)
        return str(value) if value is not None else None

    def cuda_driver_version(self) -> str | None:
        """The CUDA version the driver supports, NVML's integer 12040 written as ``12.4``."""
        value = nvml_value(self.nvml, self.nvml.nvmlSystemGetCudaDriverVersion)
        return f"{int(value) // 1000}.{int(value) % 1000 // 10}" if value is not None else None

    def close(self) -> None:
        self.nvml.nvmlShutdown()
