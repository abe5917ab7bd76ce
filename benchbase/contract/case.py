"""What a benchmark case hands the core: a model spec, a dataset spec, a recipe and a metric, composed and named.

A case (:class:`Case`) composes one :class:`ModelSpec` and one :class:`DatasetSpec` with a :class:`Recipe` and a
:class:`Metric`, plus its parameters (:class:`Param`) and presets (:class:`Preset`). The core trainer owns the step
and wires the case to a vendor (:mod:`benchbase.contract.vendor`), so every case is trained and measured by the same
rules; a case never writes harness code.

Methods with a body are optional: the default is the honest answer for a case that lacks the feature.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchbase.errors import BenchbaseError

if TYPE_CHECKING:
    # Imported for annotations only: the CLI loads this module for every command, and `benchbase --help`,
    # `list` and `report` must not pay torch's two-second import.
    import torch


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
    #: The largest value a number may take; an integer without one still ends at ``benchbase.config.coerce.INT_LIMIT``.
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



@dataclass(frozen=True)
class MemoryFootprint:
    """What the core's memory estimate needs to know about a model, in the model's own shapes.

    The core turns it into bytes per device for the run's precision, micro-batch, parallelism and world size
    (:mod:`benchbase.run.memory_estimate`, docs/memory.md), so ``--dry-run`` can say whether a configuration fits
    before anything starts.
    """

    #: Distinct trainable parameters (a tied output layer counted once).
    parameters: int
    #: Bytes one sample's forward keeps for its backward, at the element size the estimate asked for, plus the
    #: largest transient of the backward (a recomputed layer's activations under activation checkpointing, say).
    activation_bytes_per_sample: float
    #: Parameters of the largest block FSDP gathers whole at once (a transformer layer); 0 when unknown.
    largest_block_parameters: int = 0
    #: Parameters outside the blocks (embeddings, a tied output layer, a final norm): FSDP's root unit, which stays
    #: gathered from its forward to the end of the backward; 0 when unknown (the largest block stands in for it).
    root_parameters: int = 0
    #: Bytes one sample's evaluation forward holds at its largest (no backward: nothing kept across layers but the
    #: hidden state and the outputs); 0 when unknown (a training sample's activations, an upper bound, stand in).
    eval_activation_bytes_per_sample: float = 0.0


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

    def blocks(self, model: torch.nn.Module) -> list[torch.nn.Module]:
        """The submodules that hold most of the parameters and run one after another (a transformer's layers), in
        forward order. Under ``parallelism: fsdp`` the core shards each one as a unit of its own, so a rank gathers
        one block's parameters at a time; the rest of the model (embeddings, final norm) is the root unit. Empty
        (the default): the whole model is one unit, which shards its state but gathers every parameter at once."""
        return []

    def memory_footprint(
        self, config: Mapping[str, Any], prepared: Mapping[str, Any] | None, element_bytes: int
    ) -> MemoryFootprint | None:
        """The model's parameter count and activation bytes per sample with activations of ``element_bytes`` bytes
        (2 under a 16-bit autocast, 4 in fp32), computed from its shapes without building it (``--dry-run`` must
        not import torch). ``prepared`` is ``None`` when a dry run plans for another machine and no data was
        prepared. ``None`` (the default): unknown, and the estimate says so instead of guessing."""
        return None


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

    def eval_batch(self, indices: Any) -> Batch:
        """CPU tensors of the evaluation samples at ``indices`` (a NumPy int64 array of consecutive indices), in
        that order. Implement this (samples addressed by index) or :meth:`eval_batches` (a stream)."""
        raise BenchbaseError(
            f"{type(self).__name__} implements neither eval_batch nor eval_batches",
            "implement one of them in the case's Samples (docs/contract.md, Evaluation)",
        )

    def eval_batches(self, spans: Iterator[range]) -> Iterator[Batch]:
        """This rank's evaluation batches, one per range of consecutive sample indices in ``spans``, in that order.

        The core hands the ranges over lazily, in increasing order, and takes one batch at a time, scoring it
        before it asks for the next: the validation split never has to fit in memory. A source read front to back
        (a large file, a generator) overrides this to read only the ranges given and skip the rest (the other
        ranks'); it must yield exactly one batch per range. By default each batch is :meth:`eval_batch` of its
        range.
        """
        import numpy as np

        for span in spans:
            yield self.eval_batch(np.arange(span.start, span.stop, dtype=np.int64))


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

    def sizes(self, config: Mapping[str, Any], prepared: Mapping[str, Any]) -> tuple[int, int] | None:
        """How many training and evaluation samples the prepared data holds, when :meth:`prepare`'s facts say so
        without opening the data. The core then refuses, before anything is recorded, a run whose data cannot fill
        one global batch or one evaluation batch per rank (a small subset of a small corpus, say), instead of
        starting ranks that fail. ``None`` (the default): unknown, and the ranks find out."""
        return None


class Recipe(ABC):
    """How a case trains: its optimizer, its learning-rate schedule and its rule for an overflowed step."""

    #: Whether the schedule advances on an update the loss scaler skipped for an overflow. The benchmark trainers
    #: behind the published CPM numbers step it on every iteration (``True``); DeepSpeed skips it (``False``).
    schedule_steps_on_overflow: bool = True
    #: The ``precision`` values the case may train with; the vendor's policy decides what each one means.
    precisions: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16", "amp")
    #: Clip the global gradient norm (over all parameters and ranks) to this before each update; ``None``: no
    #: clipping. The core clips after the loss scaler unscales the gradients, so the threshold applies to the true
    #: gradients and an update the scaler skips for an overflow stays skipped; the norm before clipping is recorded
    #: on each ``step`` event as ``grad_norm``.
    max_grad_norm: float | None = None

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

    #: Name as recorded and shown (``embedding_average``).
    name: str = ""
    #: Which way is better: ``True`` (an accuracy) makes the target a lower bound the metric must reach from
    #: below, ``False`` (a perplexity, a loss) an upper bound it must reach from above. Convergence, the report's
    #: comparisons, ``benchbase verify`` and the MLPerf export all follow it.
    higher_is_better: bool = True

    @abstractmethod
    def score(self, outputs: Any, batch: Batch, model: torch.nn.Module) -> Mapping[str, torch.Tensor]:
        """This batch's value of the metric under :attr:`name`, and any extras (say, an accuracy beside a loss-like metric), as 0-d tensors
        on the device (no host sync); NaN where the batch has nothing to score. ``model`` is the unwrapped model."""


class Case(ABC):
    """A benchmark: a named composition of one model spec, one dataset spec, a recipe, a metric and its parameters.

    The core declares the keys every case has (batch size, accumulation, budgets, target, eval interval, seed; see
    :data:`benchbase.config.parameters.CORE_PARAMETERS`); a case gives them its defaults in :meth:`defaults` and
    declares only its own keys in :meth:`parameters`.
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
