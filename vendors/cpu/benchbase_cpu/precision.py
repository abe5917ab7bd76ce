"""What each requested precision means when the CPU does the arithmetic (dtypes by name: registering the vendor
imports no torch)."""

from __future__ import annotations

from benchbase.contract import PrecisionPolicy
from benchbase.errors import BenchbaseError

FP32 = PrecisionPolicy(name="fp32", label="FP32", autocast_dtype=None, flops_dtype="fp32")
BF16 = PrecisionPolicy(name="bf16", label="BF16", autocast_dtype="bfloat16", flops_dtype="bf16")


def cpu_precision_policy(requested: str) -> PrecisionPolicy:
    """``auto``/``fp32`` run plain fp32; ``bf16`` and ``amp`` autocast to bf16.

    ``amp`` is bf16 here because bf16 keeps fp32's exponent range and needs no loss scaling; fp16 on CPU would need
    a gradient scaler on a path PyTorch does not treat as supported, so it is refused rather than half-done.
    """
    choice = requested.strip().lower()
    if choice in ("auto", "fp32"):
        return FP32
    if choice in ("bf16", "amp"):
        return BF16
    if choice == "fp16":
        raise BenchbaseError(
            "precision fp16 is not supported on the CPU (fp16 autocast with loss scaling is not a supported CPU path)",
            "use --set precision=fp32 or --set precision=bf16",
        )
    raise BenchbaseError(f"unknown precision '{requested}'", "use one of auto, amp, bf16, fp16, fp32")
