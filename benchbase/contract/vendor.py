"""What a vendor plugin hands the core: a kind of hardware, its precision policy, its devices and their sensors.

A third-party vendor package subclasses :class:`Vendor` and returns an instance from its
``benchbase_register_vendors`` hook; that is all it has to know. The core calls discovery and sensors in the
supervisor process, and device setup, precision and memory methods inside each rank.

Methods with a body are optional: the default is the honest answer for hardware that lacks the feature
("unknown", ``None``), never an invented number.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchbase.errors import BenchbaseError

if TYPE_CHECKING:
    # Imported for annotations only, as in :mod:`benchbase.contract.case`.
    import torch


@dataclass(frozen=True)
class PrecisionPolicy:
    """How a vendor runs the arithmetic: autocast dtype (``None`` = plain fp32) and loss scaling.

    ``label`` is what the standard table prints in its Configuration column (``AMP``, ``FP16``, ``BF16``, ``FP32``).
    ``flops_dtype`` names the entry of :meth:`Vendor.peak_flops` that MFU is computed against.
    ``autocast_dtype`` may be torch's name of the dtype (``"bfloat16"``) rather than the dtype itself: a vendor's
    policies are then plain data, and registering the vendor (every command, ``benchbase list`` included) does not
    import torch; the name is resolved when a forward pass enters :meth:`autocast`.
    """

    name: str
    label: str
    autocast_dtype: torch.dtype | str | None
    flops_dtype: str
    loss_scaling: bool = False
    initial_scale: float = 2.0**32
    growth_interval: int = 1000

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        """The context a forward pass runs in; a no-op for fp32."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        import torch

        named = isinstance(self.autocast_dtype, str)
        dtype = getattr(torch, self.autocast_dtype, None) if named else self.autocast_dtype
        if not isinstance(dtype, torch.dtype):
            raise BenchbaseError(
                f"precision {self.name}: autocast_dtype {self.autocast_dtype!r} is no torch dtype",
                "give torch.bfloat16 or its name, 'bfloat16' (likewise float16)",
            )
        return torch.autocast(device_type=device.type, dtype=dtype)

    def describe(self) -> dict[str, Any]:
        """JSON-friendly form for records and ``--dry-run``."""
        return {
            "name": self.name,
            "label": self.label,
            "autocast_dtype": str(self.autocast_dtype).replace("torch.", "") if self.autocast_dtype else None,
            "flops_dtype": self.flops_dtype,
            "loss_scaling": self.loss_scaling,
            "initial_scale": self.initial_scale if self.loss_scaling else None,
            "growth_interval": self.growth_interval if self.loss_scaling else None,
        }


@dataclass(frozen=True)
class DeviceInfo:
    """One accelerator (or, for the CPU vendor, the host) as discovered."""

    index: int
    model: str
    memory_total_gib: float | None = None
    pci_bus_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Binding:
    """The CPUs and memory node one local rank is pinned to, and where that came from."""

    local_rank: int
    device_index: int
    cpus: tuple[int, ...]
    numa_node: int | None
    source: str

    def describe(self) -> dict[str, Any]:
        return {
            "local_rank": self.local_rank,
            "device": self.device_index,
            "cpus": compact_cpu_list(self.cpus),
            "numa_node": self.numa_node,
            "source": self.source,
        }


def compact_cpu_list(cpus: tuple[int, ...] | list[int]) -> str:
    """Render CPU ids the way sysfs and numactl write them (``0-7,16-23``)."""
    ordered = sorted(set(cpus))
    if not ordered:
        return ""
    ranges: list[str] = []
    start = prev = ordered[0]
    for cpu in ordered[1:] + [None]:  # type: ignore[list-item]
        if cpu is not None and cpu == prev + 1:
            prev = cpu
            continue
        ranges.append(str(start) if start == prev else f"{start}-{prev}")
        if cpu is not None:
            start = prev = cpu
    return ",".join(ranges)


@dataclass(frozen=True)
class SensorReading:
    """One telemetry sample of one device; ``None`` means the sensor is unavailable, never zero."""

    device: int
    power_w: float | None = None
    energy_j: float | None = None
    memory_used_gib: float | None = None
    memory_total_gib: float | None = None
    utilization_pct: float | None = None
    temperature_c: float | None = None
    clock_mhz: float | None = None


class StepTimer:
    """Times the device work of training steps without making the host wait for the device on every step.

    The core marks each step with :meth:`start` and :meth:`stop` and reads :meth:`collect` only at points where it
    synchronises anyway (log points, evaluations, the end of the train window), so an accelerator's launch queue is
    never drained for the sake of timing. This default reads the host clock, which is right for devices that run
    synchronously with the host (the CPU); a vendor with an asynchronous device returns a timer based on device
    events from :meth:`Vendor.step_timer`.
    """

    def __init__(self) -> None:
        self._started = 0.0
        self._total = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> None:
        self._total += time.perf_counter() - self._started

    def collect(self) -> float:
        """Seconds of the marked steps since the last call; the device has been synchronised before it is called."""
        total, self._total = self._total, 0.0
        return total


class Sensors(ABC):
    """Reads every local device's sensors; opened once per run by the supervisor, polled by the sampler thread."""

    @abstractmethod
    def read(self) -> list[SensorReading]:
        """One reading per device. Must be cheap: it runs at the telemetry rate during training."""

    def close(self) -> None:
        """Release handles (NVML shutdown and the like)."""


class Vendor(ABC):
    """A kind of hardware. Subclass it in a vendor plugin and return an instance from ``benchbase_register_vendors``.

    The core calls discovery and sensors in the supervisor process (``benchbase run``), and device setup,
    synchronisation, precision and memory methods inside each rank.
    """

    #: Name used on the command line (``--vendor NAME``).
    name: str = ""
    #: One line for ``benchbase list``.
    description: str = ""
    #: ``torch.distributed`` backend for more than one rank.
    distributed_backend: str = "gloo"
    #: Device model whose tuned configs ``--config NxM`` picks when no device is detected (``--dry-run`` elsewhere).
    default_device_model: str = ""
    #: True when several local ranks may share one discovered device (the CPU vendor's host); otherwise a run needs
    #: at least as many local devices as processes per node.
    ranks_share_devices: bool = False
    #: Whether ``compile: vendor`` (the default) compiles the model with ``torch.compile``: a vendor turns it on
    #: where its stack compiles well; ``--set compile=on|off`` decides either way.
    compile_by_default: bool = False
    #: Folder holding tuned configs as ``<case>/<DEVICE_MODEL>x<N>x<M>[-variant].yaml``; ``None`` if it ships none.
    config_dir: Path | None = None
    #: The extended resource its Kubernetes device plugin advertises (``nvidia.com/gpu``), which a pod asks for one
    #: of per rank; ``None`` for a vendor whose ranks share the host (the pod then asks for one CPU per rank).
    kubernetes_resource: str | None = None

    # -- discovery (supervisor) -----------------------------------------------------------------------------------
    @abstractmethod
    def discover(self) -> list[DeviceInfo]:
        """The local devices. Raise :class:`~benchbase.errors.BenchbaseError` saying what was looked for if none."""

    def device_model(self) -> str:
        """Model name of the local devices, used to choose tuned configs; falls back to the default model."""
        try:
            devices = self.discover()
        except Exception:  # noqa: BLE001 - discovery failure means "not detected" here, and --dry-run must still work
            return self.default_device_model
        return devices[0].model if devices else self.default_device_model

    def environment(self) -> dict[str, Any]:
        """Facts for ``env.json``: driver/SDK/firmware versions, device model, anything a reader needs.

        The key ``sdk`` (e.g. ``"SDK V2.2"``, ``"CUDA 12.4"``) is what the standard table prints in Configuration.
        """
        return {}

    def libraries(self) -> dict[str, Any]:
        """The communication and kernel libraries the ranks use, where the core cannot read them from torch (a
        vendor's own collective library, say): ``{"communication": {"library": NAME, "version": TEXT},
        "kernels": {...}}``, either part optional. The core reads NCCL/RCCL, cuDNN/MIOpen, gloo and oneDNN from
        torch itself (``env.json`` ``provenance``); what is returned here replaces its reading."""
        return {}

    def peak_flops(self, dtype: str) -> float | None:
        """Dense peak FLOP/s of one device for ``dtype`` (``fp32``, ``tf32``, ``fp16``, ``bf16``); ``None`` if unknown."""
        return None

    def memory_budget_gib(self, device: DeviceInfo | None) -> float | None:
        """Memory one device offers a run, in GiB, against which the core refuses a configuration whose estimate
        does not fit before anything starts. ``device`` is the first discovered device, or ``None`` when a dry run
        plans for a machine of :meth:`device_model` (the default model) because none is here. By default the
        discovered device's ``memory_total_gib``; ``None``: unknown, and nothing is refused for memory."""
        return device.memory_total_gib if device is not None else None

    def binding(
        self, local_rank: int, device_index: int, sysfs_root: Path, local_world_size: int | None = None
    ) -> Binding | None:
        """CPUs and memory node local to the device, from real topology under ``sysfs_root``; ``None`` = no binding.

        ``local_world_size`` is the number of ranks on this node, so ranks sharing a NUMA node get disjoint slices.
        """
        return None

    def open_sensors(self, device_indices: list[int]) -> Sensors | None:
        """Telemetry for the given local devices; ``None`` when the vendor has no sensors."""
        return None

    # -- inside a rank ----------------------------------------------------------------------------------------------
    @abstractmethod
    def setup_device(self, local_rank: int) -> torch.device:
        """Select and initialise the device this rank trains on."""

    @abstractmethod
    def precision_policy(self, requested: str) -> PrecisionPolicy:
        """Resolve the config's ``precision`` (``auto``, ``fp32``, ``bf16``, ``fp16``, ``amp``) for this hardware.

        Raise :class:`~benchbase.errors.BenchbaseError` for a precision the hardware cannot run.
        """

    def synchronize(self, device: torch.device) -> None:
        """Wait for queued device work; every timing window is closed after this."""

    def reset_peak_memory(self, device: torch.device) -> None:
        """Start a fresh peak-memory measurement (called when the train window opens)."""

    def peak_memory_gib(self, device: torch.device) -> float | None:
        """Peak memory this rank used on its device since the last reset; ``None`` if not measurable."""
        return None

    def step_timer(self, device: torch.device) -> StepTimer:
        """The timer of the per-step core window (``p_core``); see :class:`StepTimer`. Vendors whose devices run
        asynchronously must return one based on device-side events."""
        return StepTimer()

    def apply_swaps(self, model: torch.nn.Module, emit: Callable[..., None]) -> torch.nn.Module:
        """Optionally replace layers with fused vendor versions. Each swap must be reported via ``emit("swap", ...)``
        so the record shows what the vendor changed. The core trainer calls it for every case, after the model is on
        its device and before it is wrapped for data parallelism, so no case can forget it."""
        return model

    def wrap_data_parallel(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The model as the ranks train it together: torch's ``DistributedDataParallel`` unless the vendor has its
        own wrapper. The wrapper must offer ``no_sync()``, which the core uses for gradient accumulation."""
        from torch.nn.parallel import DistributedDataParallel

        device_ids = None if device.type == "cpu" or device.index is None else [device.index]
        return DistributedDataParallel(model, device_ids=device_ids)

    def wrap_fully_sharded(
        self, model: torch.nn.Module, device: torch.device, blocks: list[torch.nn.Module]
    ) -> torch.nn.Module:
        """Shard ``model`` over the ranks for ``parallelism: fsdp``, in place, and return it: torch's FSDP2
        (``torch.distributed.fsdp.fully_shard``) on each of the model spec's ``blocks``, then on the model, over
        one mesh of every rank, unless the vendor has its own. The parameters stay fp32 (no
        ``MixedPrecisionPolicy``): the precision policy's autocast does the casting, as under DDP. The result must
        be an FSDP2 module (``FSDPModule``), whose ``set_requires_gradient_sync`` the core uses for gradient
        accumulation and whose ``unshard``/``reshard`` it uses for evaluation."""
        import torch.distributed as dist
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(device.type, (dist.get_world_size(),))
        for block in blocks:
            fully_shard(block, mesh=mesh)
        return fully_shard(model, mesh=mesh)  # type: ignore[no-any-return]

    def rng_state(self, device: torch.device) -> Any:
        """The random state of this rank's device for checkpoints (``None`` when the device draws from the host's
        generator, as the CPU does). Restored by :meth:`set_rng_state` on resume, so dropout continues exactly."""
        return None

    def set_rng_state(self, device: torch.device, state: Any) -> None:
        """Inverse of :meth:`rng_state`."""
