"""The vendor half every CUDA-like stack shares: the ``torch.cuda`` calls, cached discovery, peaks and binding.

A subclass names its hardware (:attr:`CudaLikeVendor.device_noun`, :attr:`~CudaLikeVendor.setup_fix`), opens its
management library or tool (:meth:`~CudaLikeVendor.open_session`), supplies its datasheet peaks
(:attr:`~CudaLikeVendor.peak_table`) and resolves precisions; what it knows beyond that (SDK versions, CPU affinity)
goes in through the ``_..._facts`` and ``_binding_without_numa_node`` hooks.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from benchbase.hardware import topology
from benchbase.contract import Binding, DeviceInfo, Sensors, StepTimer, Vendor
from benchbase.errors import BenchbaseError
from benchbase.hardware.torch_build import torch_build

if TYPE_CHECKING:
    import torch

_GIB = float(2**30)

#: Model -> dtype -> dense peak FLOP/s of one device, as a datasheet states it.
PeakTable = Mapping[str, Mapping[str, float]]
#: The dtypes ``env.json`` lists peaks for (the ones :class:`~benchbase.contract.PrecisionPolicy` computes MFU in).
_PEAK_DTYPES = ("fp32", "tf32", "bf16", "fp16")


class DeviceSession(Protocol):
    """An open management library or tool that sees the devices CUDA shows, in CUDA's order."""

    #: The library's own index of each visible device (it counts every board, ignoring ``CUDA_VISIBLE_DEVICES``).
    physical_indices: list[int]

    def devices(self) -> list[DeviceInfo]:
        """The visible devices; each one's ``extra["name"]`` is the product name as the library prints it."""

    def driver_version(self) -> str | None: ...

    def open_sensors(self, device_indices: Sequence[int]) -> Sensors:
        """Telemetry that keeps the session open until the sensors are closed."""

    def close(self) -> None: ...


SessionT = TypeVar("SessionT", bound=DeviceSession)


def table_peak(table: PeakTable, model: str | None, dtype: str) -> float | None:
    """The listed peak, or ``None`` for an unlisted model or dtype: the report then shows MFU as n/a rather than a
    ratio against a guessed denominator."""
    return table.get(model, {}).get(dtype) if model is not None else None


class CudaLikeVendor(Vendor, Generic[SessionT]):
    """A vendor whose PyTorch build exposes its devices as ``cuda`` and whose collectives answer to ``nccl``.

    Nothing touches the hardware at construction (the plugin list is built for every CLI command), and torch is
    imported only by the methods a rank calls (``setup_device`` and those after it): discovery, peaks, binding,
    sensors and ``environment()`` go through the management library and torch's files.
    """

    #: CUDA-compatible stacks ship NCCL-compatible collectives under NCCL's name.
    distributed_backend = "nccl"
    #: The hardware in errors, singular (``NVIDIA GPU``).
    device_noun: str = ""
    #: The remedy when torch cannot use the devices (which PyTorch build and driver to install).
    setup_fix: str = ""
    #: Dense datasheet peaks by :meth:`peak_model`; a model absent here has unknown peaks.
    peak_table: ClassVar[PeakTable] = {}
    #: Memory of one device in GiB by short model, as the datasheet states it, for a dry run planning for the
    #: model of :meth:`~benchbase.contract.Vendor.device_model` where no device is here; a discovered device
    #: reports its own.
    memory_table: ClassVar[Mapping[str, float]] = {}

    def __init__(self) -> None:
        self._devices: list[DeviceInfo] | None = None

    @abstractmethod
    def open_session(self) -> SessionT:
        """Open the management library or tool; raise :class:`BenchbaseError` saying what was looked for if none."""

    # -- supervisor -------------------------------------------------------------------------------------------------
    def discover(self) -> list[DeviceInfo]:
        """Cached, because device model, peaks and binding all ask and each ask would reinitialise the library; a
        failure is not cached, so a later ask tries again."""
        if self._devices is None:
            with closing(self.open_session()) as session:
                self._devices = session.devices()
        return list(self._devices)

    def peak_model(self, device: DeviceInfo) -> str | None:
        """The :attr:`peak_table` key of ``device``; the short model unless boards of one model differ in peaks."""
        return device.model

    def _discovered(self) -> list[DeviceInfo]:
        """Discovery for questions where no device is an answer, not an error (peaks on a ``--dry-run`` machine)."""
        try:
            return self.discover()
        except BenchbaseError:
            return []

    def peak_flops(self, dtype: str) -> float | None:
        devices = self._discovered()
        return self._peak(devices[0], dtype) if devices else None

    def memory_budget_gib(self, device: DeviceInfo | None) -> float | None:
        if device is not None:
            return device.memory_total_gib
        return self.memory_table.get(self.device_model())

    def _peak(self, device: DeviceInfo, dtype: str) -> float | None:
        return table_peak(self.peak_table, self.peak_model(device), dtype)

    def environment(self) -> dict[str, Any]:
        """Reports a missing device as ``found: False`` with the reason instead of raising: ``benchbase env`` must
        describe every vendor on any machine."""
        facts: dict[str, Any] = {"torch": torch_build()["version"], **self._software_facts()}
        try:
            session = self.open_session()
        except BenchbaseError as exc:
            facts.update(found=False, reason=str(exc))
            return facts
        with closing(session):
            devices = session.devices()
            facts.update(
                found=True,
                driver=session.driver_version(),
                devices=[self._device_facts(d) for d in devices],
                device_model=devices[0].model if devices else None,
                peak_flops={dtype: self._peak(devices[0], dtype) for dtype in _PEAK_DTYPES} if devices else {},
            )
            facts.update(self._found_facts(session))
        return facts

    def _software_facts(self) -> dict[str, Any]:
        """Facts that need no device (SDK and torch build); they stand in ``env.json`` even when nothing is found."""
        return {}

    def _found_facts(self, session: SessionT) -> dict[str, Any]:
        """Facts only the open session can tell; they override :meth:`_software_facts` of the same name."""
        return {}

    def _device_facts(self, device: DeviceInfo) -> dict[str, Any]:
        """One device as ``env.json`` lists it."""
        return {
            "index": device.index,
            "name": device.extra["name"],
            "memory_total_gib": device.memory_total_gib,
            "pci_bus_id": device.pci_bus_id,
        }

    def binding(
        self, local_rank: int, device_index: int, sysfs_root: Path, local_world_size: int | None = None
    ) -> Binding | None:
        """CPUs local to the device's PCI NUMA node from sysfs, split among the ranks on that node.

        The node's ranks are taken to drive devices ``0..local_world_size-1`` (all visible devices when the caller
        does not say). A device without a NUMA node in sysfs gets :meth:`_binding_without_numa_node` when the vendor
        knows better, else the documented fallback of :func:`benchbase.hardware.topology.binding_for_device` (an even split of
        the online CPUs by local rank); so does a ``--dry-run`` on a machine without the devices, labelled as such.
        """
        try:
            devices = self.discover()
        except BenchbaseError:
            return topology.binding_for_device(
                Path(sysfs_root), local_rank, device_index, None, range(local_world_size or local_rank + 1),
                no_address_reason="no device detected on this machine",
            )
        in_use = devices[: local_world_size or len(devices)]
        if device_index >= len(in_use):
            return None
        from_sysfs = topology.device_bindings(Path(sysfs_root), [d.pci_bus_id for d in in_use])[device_index]
        if from_sysfs.source.startswith("fallback"):
            better = self._binding_without_numa_node(local_rank, device_index, len(in_use), Path(sysfs_root))
            if better is not None:
                return better
        return topology.with_rank(from_sysfs, local_rank, device_index)

    def _binding_without_numa_node(
        self, local_rank: int, device_index: int, devices_in_use: int, sysfs_root: Path
    ) -> Binding | None:
        """A binding from the vendor's own topology source (e.g. NVML's CPU affinity) when sysfs has no NUMA node
        for the device; ``None`` leaves the sysfs fallback standing."""
        return None

    def open_sensors(self, device_indices: list[int]) -> Sensors | None:
        session = self.open_session()
        visible = len(session.physical_indices)
        missing = [i for i in device_indices if not 0 <= i < visible]
        if missing:
            session.close()
            raise ValueError(f"devices {missing} are not among the {visible} visible {self.device_noun}s")
        return session.open_sensors(device_indices)

    # -- inside a rank ----------------------------------------------------------------------------------------------
    def setup_device(self, local_rank: int) -> torch.device:
        """Refuses, in one line, a torch that cannot use the devices or a rank without a device of its own, before
        any work is queued on the wrong one."""
        import torch

        if not torch.cuda.is_available():
            raise BenchbaseError(
                f"torch cannot use any {self.device_noun} (torch.cuda.is_available() is False)", self.setup_fix
            )
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise BenchbaseError(
                f"local rank {local_rank} needs a {self.device_noun} but torch sees only {count}",
                "launch at most one process per visible device (check --config and CUDA_VISIBLE_DEVICES)",
            )
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)

    def synchronize(self, device: torch.device) -> None:
        import torch

        torch.cuda.synchronize(device)

    def reset_peak_memory(self, device: torch.device) -> None:
        import torch

        torch.cuda.reset_peak_memory_stats(device)

    def peak_memory_gib(self, device: torch.device) -> float | None:
        """Peak memory the caching allocator reserved, in GiB.

        Reserved rather than allocated: the published references (FlagPerf, vendor tables) report what ``nvidia-smi``
        shows, which is the allocator's reserved pool plus the context, so reserved is the closer like-for-like figure.
        """
        import torch

        return torch.cuda.max_memory_reserved(device) / _GIB

    def step_timer(self, device: torch.device) -> StepTimer:
        from benchbase.hardware.cuda_like.step_timer import CudaEventTimer

        return CudaEventTimer(device)

    def rng_state(self, device: torch.device) -> torch.Tensor:
        """The device's own generator (dropout draws from it, not from the host's), for checkpoints."""
        import torch

        return torch.cuda.get_rng_state(device)

    def set_rng_state(self, device: torch.device, state: Any) -> None:
        import torch

        torch.cuda.set_rng_state(state, device)
