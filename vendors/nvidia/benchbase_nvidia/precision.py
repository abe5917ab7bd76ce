"""What each requested precision means on an NVIDIA GPU of a given compute capability."""

from __future__ import annotations

from benchbase.contract import PrecisionPolicy
from benchbase.kit import BF16, FP16, FP32
from benchbase.errors import BenchbaseError

#: Ampere (compute capability 8.0) is the first generation with bf16 tensor cores.
BF16_CAPABILITY = (8, 0)


def _fp32(tf32_matmul: bool) -> PrecisionPolicy:
    """fp32 whose matmuls may run as TF32 (``torch.backends.cuda.matmul.allow_tf32``): label and MFU say which."""
    if tf32_matmul:
        return PrecisionPolicy(name="fp32", label="TF32", autocast_dtype=None, flops_dtype="tf32")
    return FP32


def nvidia_precision_policy(requested: str, capability: tuple[int, int] | None, tf32_matmul: bool) -> PrecisionPolicy:
    """``auto``/``amp``: bf16 autocast from Ampere on, fp16 autocast with dynamic loss scaling before.

    Explicit choices are honoured; bf16 on a GPU known to predate Ampere is refused. ``capability`` is ``None`` when
    no GPU is visible (e.g. ``--dry-run`` elsewhere): explicit choices pass, ``auto`` cannot be resolved.
    """
    choice = requested.strip().lower()
    if choice in ("auto", "amp"):
        if capability is None:
            raise BenchbaseError(
                f"cannot resolve precision '{requested}' without a visible NVIDIA GPU (compute capability unknown)",
                "set --set precision=bf16, fp16 or fp32 explicitly",
            )
        return BF16 if capability >= BF16_CAPABILITY else FP16
    if choice == "bf16":
        if capability is not None and capability < BF16_CAPABILITY:
            raise BenchbaseError(
                f"precision bf16 needs compute capability 8.0 or newer; this GPU has {capability[0]}.{capability[1]}",
                "use --set precision=fp16 (or auto)",
            )
        return BF16
    if choice == "fp16":
        return FP16
    if choice == "fp32":
        return _fp32(tf32_matmul)
    raise BenchbaseError(f"unknown precision '{requested}'", "use one of auto, amp, bf16, fp16, fp32")
