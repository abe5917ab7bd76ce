"""How much memory one device needs for a configuration, computed before anything starts, and the refusal when it
cannot fit.

A configuration that does not fit fails minutes into a run, after the launch, the data and the model load, with an
allocator's out-of-memory traceback from inside a rank. The case knows its model's shapes
(:meth:`benchbase.contract.ModelSpec.memory_footprint`), the vendor its device's memory
(:meth:`benchbase.contract.Vendor.memory_budget_gib`), and the config the rest (micro-batch, precision,
parallelism, world size), so the estimate is arithmetic, imports no torch, and ``--dry-run`` shows it. The formula
and its sources are docs/memory.md; in short, per rank, with P parameters::

    DDP:  weights 4P + optimizer moments 8P + gradients 4P + activations b*A [+ buckets 4P with several ranks]
          [+ the autocast copies 2P at 16 bits]

``b`` the micro-batch, ``A`` the case's activation bytes per sample. Under FSDP over S ranks the peak is the largest
of three moments of torch's FSDP2 (``fully_shard``, per block, the root unit holding what is outside the blocks and
never resharded after its forward), each counted from what is alive then, R the root unit's parameters and B a
block's, all fp32 (no ``MixedPrecisionPolicy``)::

    backward start: 4P/S + 8P/S + b*A + root gathered 4R + the last block prefetched 2*4B
                    [+ the autocast copies 2P at 16 bits] [+ accumulated unsharded gradients 4P when grad_accum > 1]
    backward end:   4P/S + 8P/S + gradients 4P/S (4P when accumulating) + root gathered 4R
                    + the root's gradient 3*4R (two partial gradients of a tied weight and their sum)
                    + the last blocks' reduce-scatter staging 4*4B
    evaluation:     4P/S + 8P/S + every parameter gathered 4P + b_eval*A_eval (forward only; A where unknown)

At the backward's start no gradient exists yet (the core zeroes with ``set_to_none``), and the activations of the
whole forward are alive; at its end the activations are gone and the root's gradient is being summed. Under DDP,
gradients and activations are added although the backward frees activations as gradients grow: the gradients of the
last layers and of tied embeddings appear while nearly every activation is still held. Ranks that share one device
(the CPU vendor's host) add up.
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
    if core.parallelism == "fsdp" and world_size > 1:
        moments = (_fsdp_backward_start(footprint, core, precision, world_size),
                   _fsdp_backward_end(footprint, core, world_size), _fsdp_evaluation(footprint, core, world_size))
        parts = max(moments, key=lambda candidate: sum(candidate.values()))
        return MemoryEstimate(core.parallelism, world_size, ranks_per_device, parts)
    params = float(footprint.parameters)
    parts = {
        "weights": _FP32 * params,
        "optimizer_moments": _ADAM_MOMENTS * params,
        "gradients": _FP32 * params,
        "activations": footprint.activation_bytes_per_sample * core.batch_size,
    }
    if world_size > 1:
        # DistributedDataParallel all-reduces through flat buckets that copy every gradient.
        parts["ddp_buckets"] = _FP32 * params
    if element_bytes(precision) != _FP32:
        parts["autocast_copies"] = _autocast_copies(params)
    return MemoryEstimate(core.parallelism, world_size, ranks_per_device, parts)


def _autocast_copies(params: float) -> float:
    """Autocast caches the 16-bit copy of each weight it casts, and the backward keeps it as a saved input until it
    has used it: every weight's copy is alive when the backward starts."""
    return 2 * params


def _sharded_state(footprint: MemoryFootprint, world_size: int) -> dict[str, float]:
    """Each rank's shards of the fp32 weights and of AdamW's two moments, alive all along."""
    return {"weights": _FP32 * footprint.parameters / world_size,
            "optimizer_moments": _ADAM_MOMENTS * footprint.parameters / world_size}


def _root_parameters(footprint: MemoryFootprint) -> int:
    """The root unit's parameters; a case that does not say falls back on its largest block, as before it could."""
    return footprint.root_parameters or footprint.largest_block_parameters


def _fsdp_backward_start(
    footprint: MemoryFootprint, core: CoreConfig, precision: PrecisionPolicy, world_size: int
) -> dict[str, float]:
    """The output layer's backward: every activation alive, the root unit still gathered (FSDP2 does not reshard the
    root after its forward, since the backward needs it first), and the last block prefetched by the root's
    pre-backward: the all-gather's flat output and the unsharded parameters copied out of it."""
    parts = _sharded_state(footprint, world_size)
    if core.grad_accum > 1:
        # With the gradient sync off, FSDP2 accumulates each unit's gradients unsharded until the last micro-batch.
        parts["accumulated_gradients"] = _FP32 * footprint.parameters
    parts["activations"] = footprint.activation_bytes_per_sample * core.batch_size
    parts["root_gathered"] = _FP32 * _root_parameters(footprint)
    parts["prefetched_block"] = 2 * _FP32 * footprint.largest_block_parameters
    if element_bytes(precision) != _FP32:
        parts["autocast_copies"] = _autocast_copies(footprint.parameters)
    return parts


def _fsdp_backward_end(footprint: MemoryFootprint, core: CoreConfig, world_size: int) -> dict[str, float]:
    """The root's backward, last: the activations are gone, the blocks' gradients reduce-scattered into shards
    (unsharded while accumulating), the root still gathered and its gradient being summed from two partial ones where
    a weight is used twice (embeddings tied to the output layer), both alive beside their sum, and the last blocks'
    reduce-scatter staging (their unsharded gradients and the flat copy reduced), which gloo releases only once its
    work is waited on."""
    root = _FP32 * _root_parameters(footprint)
    parts = _sharded_state(footprint, world_size)
    shards = 1 if core.grad_accum > 1 else world_size
    parts["gradients"] = _FP32 * footprint.parameters / shards
    parts["root_gathered"] = root
    parts["root_gradient"] = 3 * root
    parts["reduce_scatter_staging"] = 4 * _FP32 * footprint.largest_block_parameters
    return parts


def _fsdp_evaluation(footprint: MemoryFootprint, core: CoreConfig, world_size: int) -> dict[str, float]:
    """An evaluation gathers every parameter on every rank beside the sharded state (docs/contract.md,
    "Parallelism"); its forward keeps no activations for a backward (the case's evaluation bytes per sample, or a
    training sample's as an upper bound where it does not say)."""
    parts = _sharded_state(footprint, world_size)
    parts["full_weights"] = _FP32 * footprint.parameters
    per_sample = footprint.eval_activation_bytes_per_sample or footprint.activation_bytes_per_sample
    parts["eval_activations"] = per_sample * core.eval_batch_size
    return parts


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
