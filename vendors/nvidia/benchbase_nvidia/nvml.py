"""NVIDIA's management library (NVML, through the ``pynvml`` module of nvidia-ml-py), opened only when needed.

Enumeration in CUDA's order is the kit's (:class:`benchbase.kit.NvmlStyleSession`); what is NVIDIA's here is
the wording of failures, the refusal of an empty visible set and of MIG, CUDA's device order
(:mod:`benchbase_nvidia.device_order`), and the queries only NVML answers (compute capability, CPU affinity, the CUDA
version the driver supports).

The sensors are the kit's (:mod:`benchbase.hardware.cuda_like.nvml_like`, whose docstring gives the NVML facts with
their sources): power from the instant field ``NVML_FI_DEV_POWER_INSTANT`` where the driver has it, since
``nvmlDeviceGetPowerUsage`` is a 1-second average on Ampere (except GA100) and Hopper, and temperature through
``nvmlDeviceGetTemperatureV``, with the deprecated ``nvmlDeviceGetTemperature`` (removed in CUDA 14) as fallback.

MIG is refused in one line rather than measured: a MIG slice's power, energy counter, clocks and temperature are the
whole board's (shared with every other slice), and NVML reports no utilisation in MIG mode, so a record of a slice
would attribute other tenants' work to the run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from benchbase.kit import NvmlStyleSession, import_pynvml
from benchbase.errors import BenchbaseError
from benchbase.kit import nvml_value
from benchbase_nvidia.device_order import DeviceOrder, cuda_device_order
from benchbase_nvidia.models import short_model

_NO_GPU_FIX = "run on a machine with an NVIDIA driver, or pick another --vendor"
_MIG_WHY = (
    "benchbase measures whole GPUs (a MIG slice's power, energy, clocks and temperature are the whole board's, and "
    "NVML reports no utilisation under MIG)"
)


class NvmlSession(NvmlStyleSession):
    """An initialised NVML and the visible devices' handles; at least one device, none in MIG mode, or it does not
    open. ``device_order`` is ``CUDA_DEVICE_ORDER`` as the ranks will see it."""

    unknown_name = "unknown NVIDIA GPU"
    #: How NVML's devices were mapped to CUDA's (set while the devices are enumerated).
    device_order: DeviceOrder

    def __init__(self, nvml: Any, visible: str | None = None, device_order: str | None = None) -> None:
        mig = [entry.strip() for entry in (visible or "").split(",") if entry.strip().startswith("MIG-")]
        if mig:
            raise BenchbaseError(
                f"CUDA_VISIBLE_DEVICES names MIG device {mig[0]}: {_MIG_WHY}",
                "name whole GPUs in CUDA_VISIBLE_DEVICES (indices or GPU- UUIDs)",
            )
        self.device_order_setting = device_order
        super().__init__(nvml, visible)
        if not self.handles:
            self.close()
            raise BenchbaseError(
                f"no NVIDIA GPU found: NVML sees {self.physical_count} device(s), {len(self.handles)} visible under "
                "CUDA_VISIBLE_DEVICES",
                _NO_GPU_FIX,
            )
        in_mig = [i for i, handle in zip(self.physical_indices, self.handles) if self.mig_enabled(handle)]
        if in_mig:
            self.close()
            raise BenchbaseError(
                f"NVIDIA GPU {in_mig[0]} (NVML index) is in MIG mode: {_MIG_WHY}",
                f"disable MIG on it (nvidia-smi -i {in_mig[0]} -mig 0, as root) or leave it out of "
                "CUDA_VISIBLE_DEVICES",
            )

    @classmethod
    def open(cls, nvml: Any | None = None) -> NvmlSession:
        if nvml is None:
            nvml = import_pynvml("no NVIDIA GPU found", "pip install nvidia-ml-py, or pick another --vendor")
        return cls(nvml, os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("CUDA_DEVICE_ORDER"))

    def _init_error(self, exc: Exception) -> BenchbaseError:
        return BenchbaseError(f"no NVIDIA GPU found: NVML could not be initialised ({exc})", _NO_GPU_FIX)

    def _listing_error(self, exc: Exception) -> BenchbaseError:
        return BenchbaseError(f"no NVIDIA GPU found: NVML could not list the devices ({exc})", _NO_GPU_FIX)

    def _cuda_enumeration(self, physical: Sequence[Any]) -> list[int]:
        names = [nvml_value(self.nvml, self.nvml.nvmlDeviceGetName, h) for h in physical]
        self.device_order = cuda_device_order(self.device_order_setting, names, [self.pci_bus_id(h) for h in physical])
        return self.device_order.indices

    def _model(self, long_name: str) -> str:
        return short_model(long_name)

    def _extra(self, physical: int, handle: Any) -> dict[str, Any]:
        capability = self.compute_capability(handle)
        return {
            "nvml_index": physical,
            "uuid": nvml_value(self.nvml, self.nvml.nvmlDeviceGetUUID, handle),
            "compute_capability": f"{capability[0]}.{capability[1]}" if capability else None,
        }

    def mig_enabled(self, handle: Any) -> bool:
        """Whether MIG is on now (``nvmlDeviceGetMigMode``'s current mode); ``False`` for GPUs without MIG."""
        mode = nvml_value(self.nvml, self.nvml.nvmlDeviceGetMigMode, handle)
        return mode is not None and int(mode[0]) == self.nvml.NVML_DEVICE_MIG_ENABLE

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

    def cuda_driver_version(self) -> str | None:
        """The CUDA version the driver supports, NVML's integer 12040 written as ``12.4``."""
        value = nvml_value(self.nvml, self.nvml.nvmlSystemGetCudaDriverVersion)
        return f"{int(value) // 1000}.{int(value) % 1000 // 10}" if value is not None else None
