"""NVIDIA's management library (NVML, through the ``pynvml`` module of nvidia-ml-py), opened only when needed.

Enumeration in CUDA's order is the kit's (:class:`benchbase.cuda_like.NvmlStyleSession`); what is NVIDIA's here is
the wording of failures, the refusal of an empty visible set, and the queries only NVML answers (compute capability,
CPU affinity, the CUDA version the driver supports).
"""

from __future__ import annotations

import os
from typing import Any

from benchbase.cuda_like import NvmlStyleSession, import_pynvml
from benchbase.errors import BenchbaseError
from benchbase.nvml_like import nvml_value
from benchbase_nvidia.models import short_model

_NO_GPU_FIX = "run on a machine with an NVIDIA driver, or pick another --vendor"


class NvmlSession(NvmlStyleSession):
    """An initialised NVML and the visible devices' handles; at least one device, or it does not open."""

    unknown_name = "unknown NVIDIA GPU"

    def __init__(self, nvml: Any, visible: str | None = None) -> None:
        super().__init__(nvml, visible)
        if not self.handles:
            self.close()
            raise BenchbaseError(
                f"no NVIDIA GPU found: NVML sees {self.physical_count} device(s), {len(self.handles)} visible under "
                "CUDA_VISIBLE_DEVICES",
                _NO_GPU_FIX,
            )

    @classmethod
    def open(cls, nvml: Any | None = None) -> NvmlSession:
        if nvml is None:
            nvml = import_pynvml("no NVIDIA GPU found", "pip install nvidia-ml-py, or pick another --vendor")
        return cls(nvml, os.environ.get("CUDA_VISIBLE_DEVICES"))

    def _init_error(self, exc: Exception) -> BenchbaseError:
        return BenchbaseError(f"no NVIDIA GPU found: NVML could not be initialised ({exc})", _NO_GPU_FIX)

    def _listing_error(self, exc: Exception) -> BenchbaseError:
        return BenchbaseError(f"no NVIDIA GPU found: NVML could not list the devices ({exc})", _NO_GPU_FIX)

    def _model(self, long_name: str) -> str:
        return short_model(long_name)

    def _extra(self, physical: int, handle: Any) -> dict[str, Any]:
        capability = self.compute_capability(handle)
        return {
            "nvml_index": physical,
            "uuid": nvml_value(self.nvml, self.nvml.nvmlDeviceGetUUID, handle),
            "compute_capability": f"{capability[0]}.{capability[1]}" if capability else None,
        }

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
