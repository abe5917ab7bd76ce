"""NVIDIA GPUs as a benchbase vendor: CUDA devices, NCCL collectives, NVML telemetry.

Nothing touches the driver at construction (the plugin list is built for every CLI command); NVML is initialised
on first use, and ``environment()`` reports a missing driver instead of raising.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from benchbase import topology
from benchbase.contract import Binding, DeviceInfo, PrecisionPolicy, Sensors, Vendor
from benchbase.cuda_like import cuda_peak_memory_gib, reset_cuda_peak_memory, setup_cuda_device, synchronize_cuda
from benchbase.errors import BenchbaseError
from benchbase_nvidia.nvml import NvmlSession
from benchbase_nvidia.peak_flops import peak_flops_for
from benchbase_nvidia.precision import nvidia_precision_policy
from benchbase_nvidia.sensors import open_nvml_sensors

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
_DTYPES = ("fp32", "tf32", "bf16", "fp16")


def _device_facts(device: DeviceInfo) -> dict[str, Any]:
    return {
        "index": device.index,
        "name": device.extra["name"],
        "memory_total_gib": device.memory_total_gib,
        "pci_bus_id": device.pci_bus_id,
        "compute_capability": device.extra["compute_capability"],
    }


class NvidiaVendor(Vendor):
    """``nvml`` replaces the ``pynvml`` module (tests hand in a stand-in, since this machine may have no GPU)."""

    name = "nvidia"
    description = "NVIDIA GPUs (CUDA, NCCL, NVML telemetry)"
    distributed_backend = "nccl"
    default_device_model = "A100"
    config_dir = CONFIG_DIR

    def __init__(self, nvml: Any | None = None) -> None:
        self._nvml = nvml
        self._devices: list[DeviceInfo] | None = None

    def _session(self) -> NvmlSession:
        return NvmlSession.open(self._nvml)

    def discover(self) -> list[DeviceInfo]:
        if self._devices is None:
            session = self._session()
            try:
                self._devices = session.devices()
            finally:
                session.close()
        return list(self._devices)

    def environment(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        }
        try:
            session = self._session()
        except BenchbaseError as exc:
            facts.update(found=False, reason=str(exc), sdk=f"CUDA {torch.version.cuda}" if torch.version.cuda else None)
            return facts
        try:
            driver = session.driver_version()
            devices = session.devices()
            facts.update(
                found=True,
                driver=driver,
                cuda_driver=session.cuda_driver_version(),
                devices=[_device_facts(d) for d in devices],
                device_model=devices[0].model,
                peak_flops={dtype: peak_flops_for(str(devices[0].extra["name"]), dtype) for dtype in _DTYPES},
                sdk=f"CUDA {torch.version.cuda or session.cuda_driver_version()}, driver {driver}",
            )
        finally:
            session.close()
        return facts

    def peak_flops(self, dtype: str) -> float | None:
        try:
            devices = self.discover()
        except BenchbaseError:
            return None
        return peak_flops_for(str(devices[0].extra["name"]), dtype)

    def binding(
        self, local_rank: int, device_index: int, sysfs_root: Path, local_world_size: int | None = None
    ) -> Binding | None:
        """CPUs local to the device's PCI NUMA node from sysfs, split among the ranks on that node.

        The node's ranks are taken to drive devices ``0..local_world_size-1`` (all visible devices when the caller
        does not say). When sysfs knows no NUMA node for the device, NVML's CPU affinity for it is used instead,
        split among the devices with the same affinity; only when both are silent does the sysfs fallback stand.
        """
        try:
            session = self._session()
        except BenchbaseError:
            # No device here (a --dry-run on another machine): show the documented fallback, labelled as such.
            return topology.binding_for_device(
                Path(sysfs_root), local_rank, device_index, None, range(local_world_size or local_rank + 1),
                no_address_reason="no device detected on this machine",
            )
        try:
            handles = session.handles[: local_world_size or len(session.handles)]
            if device_index >= len(handles):
                return None
            bus_ids = [session.pci_bus_id(h) for h in handles]
            from_sysfs = topology.device_bindings(Path(sysfs_root), bus_ids)[device_index]
            if not from_sysfs.source.startswith("fallback"):
                return topology.with_rank(from_sysfs, local_rank, device_index)
            affinities = [session.cpu_affinity(h) for h in handles]
        finally:
            session.close()
        mine = affinities[device_index]
        if not mine:
            return topology.with_rank(from_sysfs, local_rank, device_index)
        sharing = [i for i, cpus in enumerate(affinities) if cpus == mine]
        cpus, how = topology.split_evenly(Path(sysfs_root), mine, len(sharing), sharing.index(device_index))
        source = f"nvml: nvmlDeviceGetCpuAffinity (sysfs had no NUMA node for the device); {how}"
        return Binding(local_rank, device_index, cpus, None, source)

    def open_sensors(self, device_indices: list[int]) -> Sensors | None:
        return open_nvml_sensors(device_indices, self._nvml)

    def setup_device(self, local_rank: int) -> torch.device:
        return setup_cuda_device(
            local_rank, "NVIDIA GPU", "install a CUDA build of PyTorch and an NVIDIA driver, or pick another --vendor"
        )

    def precision_policy(self, requested: str) -> PrecisionPolicy:
        return nvidia_precision_policy(requested, self._capability(), torch.backends.cuda.matmul.allow_tf32)

    def _capability(self) -> tuple[int, int] | None:
        """From torch inside a rank; from NVML in the supervisor; ``None`` when no GPU is visible at all."""
        if torch.cuda.is_available():
            return torch.cuda.get_device_capability(torch.cuda.current_device())
        try:
            devices = self.discover()
        except BenchbaseError:
            return None
        text = devices[0].extra.get("compute_capability")
        if not text:
            return None
        major, minor = str(text).split(".")
        return int(major), int(minor)

    def synchronize(self, device: torch.device) -> None:
        synchronize_cuda(device)

    def reset_peak_memory(self, device: torch.device) -> None:
        reset_cuda_peak_memory(device)

    def peak_memory_gib(self, device: torch.device) -> float | None:
        """The caching allocator's peak reserved memory (see :func:`benchbase.cuda_like.cuda_peak_memory_gib`)."""
        return cuda_peak_memory_gib(device)
