"""The typed objects that cross the plugin boundary.

A case (model + data + recipe + metric) and a vendor (hardware) never import each other; the core builds both from
these types and wires them together in :mod:`benchbase.worker`. A third-party vendor package subclasses
:class:`Vendor` and returns an instance from its ``benchbase_register_vendors`` hook; that is all it has to know.

Methods with a body are optional: the default is the honest answer for hardware that lacks the feature
("unknown", ``None``), never an invented number.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchbase.errors import BenchbaseError

# ---------------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One configuration key a case (or the core) declares.

    ``mutable`` is the allow-list: a vendor file or ``--set`` may change only mutable keys. Changing an immutable one
    (model, dataset, sequence length, metric, target) needs ``--unofficial`` and marks the result unofficial.
    """

    default: Any
    help: str
    mutable: bool = True
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    nullable: bool = False
    #: 0 is allowed below ``minimum`` and means "off" (e.g. no telemetry sampling at all).
    zero_means_off: bool = False

    @property
    def kind(self) -> type:
        """The Python type values are coerced to; taken from the default so the two cannot disagree."""
        return type(self.default)


@dataclass(frozen=True)
class Preset:
    """A named starting point of a case: overrides of the case's parameter defaults.

    Presets belong to the case, so they may set immutable keys (the demo preset fixes a tiny model); a preset's own
    values are still official.
    """

    name: str
    description: str
    values: Mapping[str, Any] = field(default_factory=dict)
    needs_data_dir: bool = False


# ---------------------------------------------------------------------------------------------------------------
# Hardware
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrecisionPolicy:
    """How a vendor runs the arithmetic: autocast dtype (``None`` = plain fp32) and loss scaling.

    ``label`` is what the standard table prints in its Configuration column (``AMP``, ``FP16``, ``BF16``, ``FP32``).
    ``flops_dtype`` names the entry of :meth:`Vendor.peak_flops` that MFU is computed against.
    """

    name: str
    label: str
    autocast_dtype: torch.dtype | None
    flops_dtype: str
    loss_scaling: bool = False
    initial_scale: float = 2.0**32
    growth_interval: int = 1000

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        """The context a forward pass runs in; a no-op for fp32."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)

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
    #: Folder holding tuned configs as ``<case>/<DEVICE_MODEL>x<N>x<M>[-variant].yaml``; ``None`` if it ships none.
    config_dir: Path | None = None

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

    def peak_flops(self, dtype: str) -> float | None:
        """Dense peak FLOP/s of one device for ``dtype`` (``fp32``, ``tf32``, ``fp16``, ``bf16``); ``None`` if unknown."""
        return None

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

    def apply_swaps(self, model: torch.nn.Module, emit: Callable[..., None]) -> torch.nn.Module:
        """Optionally replace layers with fused vendor versions. Each swap must be reported via ``emit("swap", ...)``
        so the record shows what the vendor changed."""
        return model


# ---------------------------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class RunContext:
    """Everything a case needs to build its workload inside one rank."""

    config: Mapping[str, Any]
    device: torch.device
    precision: PrecisionPolicy
    vendor: Vendor
    rank: int
    local_rank: int
    world_size: int
    data_dir: Path | None
    cache_dir: Path
    run_dir: Path
    emit: Callable[..., None]
    #: What the case's :meth:`Case.prepare` returned on this node (paths of prepared data and facts).
    prepared: Mapping[str, Any] = field(default_factory=dict)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


@dataclass(frozen=True)
class EvalResult:
    """One evaluation; ``metric`` is compared with the case's target, ``extras`` are recorded beside it."""

    metric: float
    extras: Mapping[str, float] = field(default_factory=dict)


class Workload(ABC):
    """A built case inside one rank: the worker drives it and owns every timer and stopping decision."""

    #: Samples consumed by one optimizer step across all ranks (per-device batch x accumulation x world size).
    global_batch: int
    #: Training FLOPs per sample (model FLOPs, forward + backward), for MFU.
    flops_per_sample: float
    #: Convergence target of the metric (higher is better).
    target: float
    #: Steps between evaluations.
    eval_every: int
    #: Budget: optimizer steps.
    max_steps: int
    #: Budget: samples (``None`` = no sample budget).
    max_samples: int | None = None

    @abstractmethod
    def next_batch(self) -> Any:
        """Fetch (and move to the device) the data of the next optimizer step. Excluded from the core window."""

    @abstractmethod
    def train_step(self, batch: Any) -> torch.Tensor:
        """Forward, backward and optimizer update of one global step; returns the loss (a tensor, not synchronised)."""

    @abstractmethod
    def evaluate(self) -> EvalResult:
        """The case metric over the validation split, averaged over ranks (identical on every rank)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: model, optimizer, schedule, scaler, data position, RNG."""

    @abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""

    def learning_rate(self) -> float | None:
        """Current learning rate, for the progress log."""
        return None

    def close(self) -> None:
        """Release loaders and other resources."""


ProgressFn = Callable[[str, int, int | None], None]


class Case(ABC):
    """A benchmark workload: model, dataset, recipe, metric and convergence target."""

    name: str = ""
    description: str = ""
    #: Metric name as recorded and shown (``embedding_average``).
    metric_name: str = ""
    default_preset: str = "official"

    @abstractmethod
    def parameters(self) -> Mapping[str, Param]:
        """Every configuration key of the case with its default and whether it is mutable."""

    @abstractmethod
    def presets(self) -> Mapping[str, Preset]:
        """Named presets; ``default_preset`` must be one of them."""

    @abstractmethod
    def prepare(
        self, config: Mapping[str, Any], data_dir: Path | None, cache_dir: Path, progress: ProgressFn
    ) -> dict[str, Any]:
        """Make the data ready (tokenize, cache) before any rank starts; returns facts for the record.

        Called once per node by the supervisor and by ``benchbase prepare``; a second call must be a cache hit.
        Raise :class:`~benchbase.errors.BenchbaseError` for missing or malformed inputs.
        """

    @abstractmethod
    def build(self, ctx: RunContext) -> Workload:
        """Construct model, data loaders, optimizer and metric for one rank."""

    def convert_checkpoint(self, source: Path, out_dir: Path) -> Path:
        """Make the case's starting checkpoint from another released form (``benchbase prepare --from-large``)."""
        raise BenchbaseError(f"case {self.name} has no checkpoint conversion", "drop --from-large")

    def describe_data(self, config: Mapping[str, Any], data_dir: Path | None) -> Iterator[str]:
        """Lines for ``--dry-run`` saying which files the run would read."""
        return iter(())
