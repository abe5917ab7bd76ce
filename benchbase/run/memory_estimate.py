"""How much memory one device needs for a configuration, computed before anything starts, and the refusal when it
cannot fit.

A configuration that does not fit fails minutes into a run, after the launch, the data and the model load, with an
allocator's out-of-memory traceback from inside a rank. The case knows its model's shapes
(:meth:`benchbase.contract.ModelSpec.memory_footprint`), the vendor its device's memory
(:meth:`benchbase.contract.Vendor.memory_budget_gib`), and the config the rest (micro-batch, precision,
parallelism, world size), so the estimate is arithmetic, imports no torch, and ``--dry-run`` shows it. The formula
and its sources are docs/memory.md; in short, per rank, with P parameters sharded over S ranks (S = world size under
FSDP, 1 under DDP)::

    weights 4P/S + optimizer moments 8P/S + gradients 4P/S + activations b*A [+ DDP's buckets 4P]
    [+ the autocast copies 2P under DDP] [+ FSDP's gathered blocks 2 * B * (e + 4)]

``b`` the micro-batch, ``A`` the case's activation bytes per sample at element size ``e``, ``B`` the largest block's
parameters. Gradients and activations are added although the backward frees activations as gradients grow: the
gradients of the last layers and of tied embeddings appear while nearly every activation is still held, and the
measured peaks of docs/memory.md lie between the maximum of the two and their sum, nearer the sum. Ranks that share
one device (the CPU vendor's host) add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchbase.config.parameters import CoreConfig
from benchbase.contract import Case, MemoryFootprint, PrecisionPolicy
from benchbase.errors import BenchbaseError
from benchbase.registry import checked

_GIB = float(2**30)
#: fp32 master weights and gradients: the core trains fp32 parameters under every precision (autocast).
_FP32 = 4
#: Two fp32 moments per parameter: Adam and AdamW, the optimizer of every first-party recipe.
_ADAM_MOMENTS = 8


@dataclass(frozen=True)
class MemoryEstimate:
    """One rank's estimated peak, part by part, in bytes, and what one device needs for the ranks it holds."""

    parallelism: str
    world_size: int
    ranks_per_device: int
    parts: dict[str, float]

    @property
    def per_rank(self) -> float:
        return sum(self.parts.values())

    @property
    def per_device_gib(self) -> float:
        return self.per_rank * self.ranks_per_device / _GIB

    def describe(self) -> dict[str, Any]:
        """JSON-friendly form for ``--dry-run``: GiB per device and per part."""
        return {
            "parallelism": self.parallelism,
            "per_device_gib": round(self.per_device_gib, 2),
            "ranks_per_device": self.ranks_per_device,
            "parts_gib": {name: round(value / _GIB, 3) for name, value in self.parts.items()},
        }


def element_bytes(precision: PrecisionPolicy) -> int:
    """Bytes of one activation element: 2 under a 16-bit autocast, 4 in plain fp32."""
    return _FP32 if precision.autocast_dtype is None else 2


def estimate_memory(
    footprint: MemoryFootprint, core: CoreConfig, precision: PrecisionPolicy, world_size: int, ranks_per_device: int
) -> MemoryEstimate:
    """The peak of one rank training ``footprint`` under ``core``'s micro-batch and parallelism (module docstring)."""
    params = float(footprint.parameters)
    sharded = core.parallelism == "fsdp"
    shards = world_size if sharded else 1
    half = element_bytes(precision) != _FP32
    parts = {
        "weights": _FP32 * params / shards,
        "optimizer_moments": _ADAM_MOMENTS * params / shards,
        "gradients": _FP32 * params / shards,
        "activations": footprint.activation_bytes_per_sample * core.batch_size,
    }
    if not sharded and world_size > 1:
        # DistributedDataParallel all-reduces through flat buckets that copy every gradient.
        parts["ddp_buckets"] = _FP32 * params
    if half and not sharded:
        # Autocast caches the 16-bit copy of each weight it casts, kept until the backward has used it.
        parts["autocast_copies"] = 2 * params
    if sharded:
        # The block being computed and the one prefetched, gathered whole, with their unsharded fp32 gradients.
        parts["gathered_blocks"] = 2 * footprint.largest_block_parameters * (element_bytes(precision) + _FP32)
    return MemoryEstimate(core.parallelism, world_size, ranks_per_device, parts)


def plan_memory(
    case: Case,
    values: dict[str, Any],
    prepared: dict[str, Any] | None,
    core: CoreConfig,
    precision: PrecisionPolicy,
    world_size: int,
    ranks_per_device: int,
) -> MemoryEstimate | None:
    """The estimate for this run, or ``None`` where the case does not describe its model's memory."""
    footprint = checked.call(case, "model.memory_footprint()", checked.FOOTPRINT, case.model.memory_footprint,
                             values, prepared, element_bytes(precision))
    if footprint is None:
        return None
    return estimate_memory(footprint, core, precision, world_size, ranks_per_device)


def check_fits(estimate: MemoryEstimate | None, budget_gib: float | None, device: str) -> None:
    """Refuse, in one line with the fix, a configuration whose estimate exceeds what the device offers."""
    if estimate is None or budget_gib is None or estimate.per_device_gib <= budget_gib:
        return
    fixes = []
    if estimate.parallelism == "ddp":
        fixes.append("use parallelism: fsdp (--set parallelism=fsdp)")
    fixes += ["a smaller batch_size with a larger grad_accum", "more devices"]
    raise BenchbaseError(
        f"the estimated memory of {estimate.per_device_gib:.1f} GiB per device does not fit {device}'s "
        f"{budget_gib:.1f} GiB ({estimate.parallelism}, {estimate.world_size} ranks; docs/memory.md)",
        "; or ".join(fixes),
    )
