"""What each requested precision means on an Iluvatar CoreX device."""

from __future__ import annotations

from benchbase.contract import PrecisionPolicy
from benchbase.kit import BF16, FP16, FP32, loss_scaled_fp16
from benchbase.errors import BenchbaseError

#: fp16 autocast with dynamic loss scaling, labelled ``AMP`` as in Iluvatar's published CPM table.
AMP = loss_scaled_fp16("AMP")


def iluvatar_precision_policy(requested: str) -> PrecisionPolicy:
    """``auto``/``amp`` are the reference recipe (fp16 autocast + loss scaling); fp16, bf16 and fp32 as asked."""
    choice = requested.strip().lower()
    policies = {"auto": AMP, "amp": AMP, "fp16": FP16, "bf16": BF16, "fp32": FP32}
    if choice not in policies:
        raise BenchbaseError(f"unknown precision '{requested}'", "use one of auto, amp, bf16, fp16, fp32")
    return policies[choice]
