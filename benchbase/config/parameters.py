"""The keys every case has, declared once, and the typed view the core reads them through.

The core trainer, the supervisor and the report read these keys and only these; declaring them in one table (with
their type, default, range and whether they define the workload) means no reader types a default again, and a
:class:`CoreConfig` built from the resolved values gives each reader a typed attribute instead of a string key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchbase.config.coerce import coerce_value
from benchbase.contract import Param

#: The data order draws ``RandomState(seed + epoch)``, which takes seeds below 2**32, and ``--repeat`` adds the
#: repeat's index to the seed: half of that range stays free for epochs and repeats.
MAX_SEED = 2**31 - 1
#: Per-device batch and accumulation: far above any device's memory, far below an int64 element count.
MAX_BATCH = 2**20
#: A year. Timers and ``sleep`` refuse timeouts near the float maximum (OverflowError), so the range ends here.
MAX_TIMEOUT_S = 365 * 24 * 3600.0

CORE_PARAMETERS: dict[str, Param] = {
    "precision": Param(
        "auto",
        "arithmetic precision; 'auto' lets the vendor choose what its hardware trains best with",
        choices=("auto", "fp32", "bf16", "fp16", "amp"),
    ),
    "log_interval": Param(10, "steps between logged step events", minimum=1),
    "telemetry_interval_s": Param(
        1.0, "seconds between telemetry samples; 0 = off (no sampler, no power or memory curves)", minimum=0.05,
        maximum=3600.0, zero_means_off=True,
    ),
    "timeout_s": Param(
        0.0, "wall-clock limit of the whole run in seconds; 0 = no limit", minimum=0, maximum=MAX_TIMEOUT_S
    ),
    "checkpoint_every": Param(0, "steps between checkpoints for --resume; 0 = never", minimum=0),
    # The keys every case has: the core trainer, the supervisor and the report read these and only these.
    "batch_size": Param(1, "per-device micro-batch", minimum=1, maximum=MAX_BATCH),
    "grad_accum": Param(1, "micro-batches accumulated per optimizer step", minimum=1, maximum=MAX_BATCH),
    "eval_batch_size": Param(1, "per-device evaluation batch", minimum=1, maximum=MAX_BATCH),
    "max_steps": Param(1000, "step budget (optimizer steps)", minimum=1),
    "max_samples": Param(0, "sample budget (0 = none)", minimum=0),
    "target": Param(
        0.0, "metric value that counts as converged (a lower bound, an upper one for a lower-is-better metric)",
        mutable=False,
    ),
    "eval_interval_samples": Param(
        1, "evaluate every ceil(this / global batch) steps, and once before training", mutable=False, minimum=1
    ),
    "seed": Param(0, "seed of initialisation, dropout and data order", minimum=0, maximum=MAX_SEED),
    "compile": Param(
        "vendor", "torch.compile the model for training: on, off, or the vendor's default", choices=("vendor", "on", "off")
    ),
    # How the ranks share the training: ddp replicates the model and its optimizer state on every rank; fsdp shards
    # them over the ranks (torch's fully_shard), for models whose Adam state does not fit one device. Mutable: both
    # train the same workload (the same losses step by step), so a vendor's tuned file may choose it.
    "parallelism": Param(
        "ddp", "ddp: every rank holds the whole model; fsdp: parameters, gradients and optimizer state sharded",
        choices=("ddp", "fsdp"),
    ),
    # Immutable: the steady window is what every p_train is compared over, so a vendor file may not widen the
    # warm-up to leave its slow steps out. Two steps by default: the first holds the one-time costs (compilation,
    # lazy initialisation, the optimizer's state, allocator growth, kernel autotuning), and the second the first
    # update with that state in place and DistributedDataParallel's rebuild of its gradient buckets, which it does
    # at the start of its second forward.
    "warmup_steps": Param(
        2, "optimizer steps at the start of every attempt timed as warm-up, outside p_train", mutable=False, minimum=0
    ),
}


@dataclass(frozen=True)
class CoreConfig:
    """The core keys of one run's resolved values, each with its declared type.

    The attributes mirror :data:`CORE_PARAMETERS` (checked when this module is imported); values come only from
    :meth:`from_values`, so a default is never written here a second time.
    """

    precision: str
    log_interval: int
    telemetry_interval_s: float
    timeout_s: float
    checkpoint_every: int
    batch_size: int
    grad_accum: int
    eval_batch_size: int
    max_steps: int
    max_samples: int
    target: float
    eval_interval_samples: int
    seed: int
    compile: str
    parallelism: str
    warmup_steps: int

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> CoreConfig:
        """The core keys of resolved values (case keys are left to the case), each checked against its declaration.

        Resolved values hold every core key; one missing means the mapping was not resolved, a bug of the caller.
        """
        missing = sorted(set(CORE_PARAMETERS) - set(values))
        if missing:
            raise ValueError(f"values lack core key(s) {', '.join(missing)}; build them with resolve_config")
        return cls(**{
            key: coerce_value(key, param, values[key], "the resolved config") for key, param in CORE_PARAMETERS.items()
        })

    def compile_enabled(self, vendor_default: bool) -> bool:
        """Whether this run compiles its model: ``compile: on|off``, or the vendor's default for ``vendor``."""
        return self.compile == "on" or (self.compile == "vendor" and vendor_default)

    @property
    def sharded(self) -> bool:
        """Whether this run shards its model and optimizer state over the ranks (``parallelism: fsdp``)."""
        return self.parallelism == "fsdp"


def _check_fields_match_parameters() -> None:
    """A core key added to the table without its attribute (or typed differently) fails at import, not in a run."""
    fields = {field.name: field.type for field in dataclasses.fields(CoreConfig)}
    declared = {key: param.kind.__name__ for key, param in CORE_PARAMETERS.items()}
    if fields != declared:
        raise TypeError(f"CoreConfig's fields {fields} do not match CORE_PARAMETERS {declared}")


_check_fields_match_parameters()
