"""The typed objects that cross the plugin boundary.

The contract has three parts: the model (:class:`ModelSpec`), the dataset (:class:`DatasetSpec`) and the hardware
(:class:`Vendor`). A case (:class:`Case`) composes one model spec and one dataset spec with a :class:`Recipe` and a
:class:`Metric`; a vendor supplies device setup, precision and CPU binding. Neither imports the other: the core trainer
(:mod:`benchbase.train.engine`) owns the step and wires them together, so every case is trained and measured by the same
rules. A third-party vendor package subclasses
:class:`Vendor` and returns an instance from its ``benchbase_register_vendors`` hook; that is all it has to know.

Methods with a body are optional: the default is the honest answer for hardware that lacks the feature
("unknown", ``None``), never an invented number.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchbase.contract.launcher import JobShape, Launcher, Submission
from benchbase.errors import BenchbaseError

if TYPE_CHECKING:
    from benchbase.export.mlperf.profile import CaseProfile

    # Imported for annotations only: the CLI loads this module for every command, and `benchbase --help`,
    # `list` and `report` must not pay torch's two-second import.
    import torch

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
    #: The largest value a number may take; an integer without one still ends at ``benchbase.config.INT_LIMIT``.
    #: Declare it where a larger value would fail only later, inside a rank (an allocation, a library's own range).
    maximum: float | None = None

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
        import torch

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

    def rng_state(self, device: torch.device) -> Any:
        """The random state of this rank's device for checkpoints (``None`` when the device draws from the host's
        generator, as the CPU does). Restored by :meth:`set_rng_state` on resume, so dropout continues exactly."""
        return None

    def set_rng_state(self, device: torch.device, state: Any) -> None:
        """Inverse of :meth:`rng_state`."""


# ---------------------------------------------------------------------------------------------------------------
# Cases: a model spec, a dataset spec, a recipe and a metric, composed and named
# ---------------------------------------------------------------------------------------------------------------

#: One batch as the core moves it to the device: named tensors (``input_ids``, ``labels``, ...).
Batch = Mapping[str, "torch.Tensor"]
#: ``progress(stage, done, total)`` for long preparation steps; ``total`` is ``None`` when unknown.
ProgressFn = Callable[[str, int, int | None], None]
#: ``emit(key, value, **metadata)`` writes an event to the run's log (``provenance``, ``swap``, ...).
EmitFn = Callable[..., None]


class ModelSpec(ABC):
    """What the core needs to know about a case's model; the core does everything else with it.

    The core builds the model with the seed already set, moves it to the rank's device, applies the vendor's swaps,
    wraps it for data parallelism, and runs :meth:`forward` under the precision policy's autocast. Keeping the
    model's knowledge here and the step in the core is what makes two cases measured by the same rules.
    """

    @abstractmethod
    def build(self, config: Mapping[str, Any], prepared: Mapping[str, Any]) -> torch.nn.Module:
        """A freshly initialised model on the CPU for the resolved ``config`` and the dataset's ``prepared`` facts
        (a vocabulary size, say)."""

    def load_initial(
        self, model: torch.nn.Module, config: Mapping[str, Any], prepared: Mapping[str, Any], emit: EmitFn
    ) -> None:
        """Import the starting checkpoint, if the case has one; report where the weights came from with
        ``emit("provenance", ...)`` so a record never hides whether it started from random weights."""

    @abstractmethod
    def flops_per_sample(self, config: Mapping[str, Any], prepared: Mapping[str, Any]) -> float:
        """Training FLOPs of one sample (model FLOPs, forward + backward), the numerator of MFU."""

    @abstractmethod
    def forward(self, model: torch.nn.Module, batch: Batch) -> Any:
        """The model's outputs for ``batch``; ``model`` may be the data-parallel wrapper, so call it, not its
        submodules."""

    @abstractmethod
    def loss(self, outputs: Any, batch: Batch) -> torch.Tensor:
        """The scalar training loss of one micro-batch (a mean, so accumulation can average micro-batches)."""

    def parameter_groups(self, model: torch.nn.Module, config: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Optimizer parameter groups (e.g. no weight decay on biases); by default one group of everything."""
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]


class Samples(ABC):
    """A prepared dataset opened inside one rank. Samples are addressed by index; the core decides the order.

    The core owns which indices each rank and micro-step gets (:mod:`benchbase.train.batch_order`), so every case has the
    same global batch order whatever the split: 1 rank with accumulation k consumes exactly what k ranks consume.
    """

    @abstractmethod
    def train_size(self) -> int:
        """Number of training samples."""

    @abstractmethod
    def train_batch(self, indices: Any) -> Batch:
        """CPU tensors of the training samples at ``indices`` (a NumPy int64 array), in that order."""

    @abstractmethod
    def eval_size(self) -> int:
        """Number of evaluation samples."""

    @abstractmethod
    def eval_batch(self, indices: Any) -> Batch:
        """CPU tensors of the evaluation samples at ``indices``, in that order."""


class DatasetSpec(ABC):
    """Where a case's data comes from: prepared once per node before any rank starts, opened in every rank."""

    @abstractmethod
    def prepare(
        self, config: Mapping[str, Any], data_dir: Path | None, cache_dir: Path, progress: ProgressFn
    ) -> dict[str, Any]:
        """Make the data ready (tokenize, cache) and return JSON-friendly facts for ``env.json``.

        Called once per node by the supervisor and by ``benchbase prepare``; a second call must be a cache hit.
        Raise :class:`~benchbase.errors.BenchbaseError` for missing or malformed inputs.
        """

    @abstractmethod
    def open(self, config: Mapping[str, Any], prepared: Mapping[str, Any]) -> Samples:
        """The prepared data inside a rank; ``prepared`` is what :meth:`prepare` returned on this node."""

    def describe(self, config: Mapping[str, Any], data_dir: Path | None) -> Iterator[str]:
        """Lines for ``--dry-run`` saying which files the run would read."""
        return iter(())


class Recipe(ABC):
    """How a case trains: its optimizer, its learning-rate schedule and its rule for an overflowed step."""

    #: Whether the schedule advances on an update the loss scaler skipped for an overflow. The benchmark trainers
    #: behind the published CPM numbers step it on every iteration (``True``); DeepSpeed skips it (``False``).
    schedule_steps_on_overflow: bool = True
    #: The ``precision`` values the case may train with; the vendor's policy decides what each one means.
    precisions: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16", "amp")

    @abstractmethod
    def optimizer(self, groups: list[dict[str, Any]], config: Mapping[str, Any]) -> torch.optim.Optimizer:
        """The optimizer over the model spec's parameter groups, its parameters already on the device."""

    def schedule(
        self, optimizer: torch.optim.Optimizer, config: Mapping[str, Any]
    ) -> torch.optim.lr_scheduler.LRScheduler:
        """The learning-rate schedule; the core calls ``step()`` once per optimizer update. Constant by default."""
        from torch.optim.lr_scheduler import LambdaLR

        return LambdaLR(optimizer, lambda _step: 1.0)


class Metric(ABC):
    """The case's quality measure, scored per evaluation batch; the core averages and reduces it.

    The core's rule, the one the CPM reference uses: each value is averaged over this rank's batches (a batch whose
    value is NaN, i.e. undefined, is left out), then over ranks. The core adds the model spec's ``loss`` as the
    extra ``loss`` unless :meth:`score` returns one.
    """

    #: Name as recorded and shown (``embedding_average``); higher is better, the target is a lower bound.
    name: str = ""

    @abstractmethod
    def score(self, outputs: Any, batch: Batch, model: torch.nn.Module) -> Mapping[str, torch.Tensor]:
        """This batch's value of the metric under :attr:`name`, and any extras (say, an accuracy beside a loss-like metric), as 0-d tensors
        on the device (no host sync); NaN where the batch has nothing to score. ``model`` is the unwrapped model."""


@dataclass(frozen=True)
class EvalResult:
    """One evaluation; ``metric`` is compared with the case's target, ``extras`` are recorded beside it."""

    metric: float
    extras: Mapping[str, float] = field(default_factory=dict)


class Case(ABC):
    """A benchmark: a named composition of one model spec, one dataset spec, a recipe, a metric and its parameters.

    The core declares the keys every case has (batch size, accumulation, budgets, target, eval interval, seed; see
    :data:`benchbase.config.CORE_PARAMETERS`); a case gives them its defaults in :meth:`defaults` and declares only
    its own keys in :meth:`parameters`.
    """

    name: str = ""
    description: str = ""
    default_preset: str = "default"
    model: ModelSpec
    dataset: DatasetSpec
    recipe: Recipe
    metric: Metric

    @property
    def metric_name(self) -> str:
        return self.metric.name

    def parameters(self) -> Mapping[str, Param]:
        """The case's own configuration keys with their defaults and whether they are mutable."""
        return {}

    def defaults(self) -> Mapping[str, Any]:
        """The case's defaults for core keys (``batch_size``, ``target``, ``max_steps``, ...)."""
        return {}

    def presets(self) -> Mapping[str, Preset]:
        """Named presets; ``default_preset`` must be one of them. One empty preset by default."""
        return {"default": Preset("default", "the case's defaults")}

    def prepare(
        self, config: Mapping[str, Any], data_dir: Path | None, cache_dir: Path, progress: ProgressFn
    ) -> dict[str, Any]:
        """Everything to do once per node before the ranks start; by default the dataset's preparation. A case
        overrides it to check more inputs up front (a starting checkpoint that does not fit the model, say)."""
        return self.dataset.prepare(config, data_dir, cache_dir, progress)

    def convert_checkpoint(self, source: Path, out_dir: Path) -> Path:
        """Make the case's starting checkpoint from another released form (``benchbase prepare --from-large``)."""
        raise BenchbaseError(f"case {self.name} has no checkpoint conversion", "drop --from-large")

    def describe_data(self, config: Mapping[str, Any], data_dir: Path | None) -> Iterator[str]:
        """Lines for ``--dry-run`` saying which files the run would read."""
        return self.dataset.describe(config, data_dir)

    def mlperf_profile(self) -> CaseProfile | None:
        """How ``benchbase export mlperf`` maps this case's runs to an MLPerf result log (benchmark names, ruleset,
        which config keys are its optimizer settings); ``None``: the case is not exported."""
        return None
