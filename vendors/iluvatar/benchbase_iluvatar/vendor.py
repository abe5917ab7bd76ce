"""Iluvatar CoreX (BI-V100) as a benchbase vendor.

CoreX's PyTorch exposes the devices through the ``torch.cuda`` API and ships NCCL-compatible collectives, so device
setup, synchronisation and peak memory are the CUDA ones (:mod:`benchbase.cuda_like`); telemetry and discovery go
through ixml or ixsmi (:mod:`benchbase_iluvatar.probe`). Nothing is probed at construction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from benchbase import topology
from benchbase.contract import Binding, DeviceInfo, PrecisionPolicy, Sensors, Vendor
from benchbase.cuda_like import cuda_peak_memory_gib, reset_cuda_peak_memory, setup_cuda_device, synchronize_cuda
from benchbase.errors import BenchbaseError
from benchbase_iluvatar.peak_flops import peak_flops_for
from benchbase_iluvatar.precision import iluvatar_precision_policy
from benchbase_iluvatar.probe import Probe
from benchbase_iluvatar.sdk import COREX_ROOT, corex_version, sdk_label

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
_DTYPES = ("fp32", "tf32", "bf16", "fp16")


def _device_facts(device: DeviceInfo) -> dict[str, Any]:
    return {
        "index": device.index,
        "name": device.extra["name"],
        "memory_total_gib": device.memory_total_gib,
        "pci_bus_id": device.pci_bus_id,
    }


class IluvatarVendor(Vendor):
    """``probe`` says how to look for the hardware and ``corex_root`` where the SDK lives (tests replace both)."""

    name = "iluvatar"
    description = "Iluvatar CoreX BI-V100 (CoreX PyTorch, NCCL-compatible collectives, ixml/ixsmi telemetry)"
    distributed_backend = "nccl"
    default_device_model = "BI-V100"
    config_dir = CONFIG_DIR

    def __init__(self, probe: Probe | None = None, corex_root: Path = COREX_ROOT) -> None:
        self._probe = probe or Probe()
        self._corex_root = corex_root
        self._devices: list[DeviceInfo] | None = None

    def discover(self) -> list[DeviceInfo]:
        if self._devices is None:
            backend = self._probe.open()
            try:
                self._devices = backend.devices()
            finally:
                backend.close()
        return list(self._devices)

    def environment(self) -> dict[str, Any]:
        version, version_source = corex_version(self._corex_root, torch.__version__)
        facts: dict[str, Any] = {
            "sdk": sdk_label(version),
            "corex_version": version,
            "corex_version_source": version_source,
            "torch": torch.__version__,
        }
        try:
            backend = self._probe.open()
        except BenchbaseError as exc:
            facts.update(found=False, reason=str(exc))
            return facts
        try:
            devices = backend.devices()
            facts.update(
                found=True,
                telemetry=backend.source,
                driver=backend.driver_version(),
                devices=[_device_facts(d) for d in devices],
                device_model=devices[0].model if devices else None,
                peak_flops={dtype: peak_flops_for(devices[0].model, dtype) for dtype in _DTYPES} if devices else {},
            )
        finally:
            backend.close()
        return facts

    def peak_flops(self, dtype: str) -> float | None:
        try:
            devices = self.discover()
        except BenchbaseError:
            return None
        return peak_flops_for(devices[0].model, dtype) if devices else None

    def binding(
        self, local_rank: int, device_index: int, sysfs_root: Path, local_world_size: int | None = None
    ) -> Binding | None:
        """CPUs local to the device's PCI NUMA node (PCI address from ixml or ixsmi), split among the node's ranks.

        ixml has no CPU-affinity call, so a device without a NUMA node in sysfs gets the documented fallback of
        :func:`benchbase.topology.binding_for_device`: an even split of the online CPUs by local rank.
        """
        try:
            devices = self.discover()
        except BenchbaseError:
            # No device here (a --dry-run on another machine): show the documented fallback, labelled as such.
            return topology.binding_for_device(
                Path(sysfs_root), local_rank, device_index, None, range(local_world_size or local_rank + 1),
                no_address_reason="no device detected on this machine",
            )
        in_use = devices[: local_world_size or len(devices)]
        if device_index >= len(in_use):
            return None
        bindings = topology.device_bindings(Path(sysfs_root), [d.pci_bus_id for d in in_use])
        return topology.with_rank(bindings[device_index], local_rank, device_index)

    def open_sensors(self, device_indices: list[int]) -> Sensors | None:
        backend = self._probe.open()
        if any(not 0 <= i < len(backend.physical_indices) for i in device_indices):
            backend.close()
            raise ValueError(f"devices {device_indices} are not all among the visible Iluvatar devices")
        return backend.open_sensors(device_indices)

    def setup_device(self, local_rank: int) -> torch.device:
        fix = "install CoreX's PyTorch build and the CoreX driver, or pick another --vendor"
        return setup_cuda_device(local_rank, "Iluvatar device", fix)

    def precision_policy(self, requested: str) -> PrecisionPolicy:
        return iluvatar_precision_policy(requested)

    def synchronize(self, device: torch.device) -> None:
        synchronize_cuda(device)

    def reset_peak_memory(self, device: torch.device) -> None:
        reset_cuda_peak_memory(device)

    def peak_memory_gib(self, device: torch.device) -> float | None:
        """The caching allocator's peak reserved memory (see :func:`benchbase.cuda_like.cuda_peak_memory_gib`)."""
        return cuda_peak_memory_gib(device)
