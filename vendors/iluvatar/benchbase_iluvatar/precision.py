"""What each requested precision means on an Iluvatar CoreX device."""

from __future__ import annotations

import torch

from benchbase.contract import PrecisionPolicy
from benchbase.errors import BenchbaseError


def _fp16(label: str) -> PrecisionPolicy:
    return PrecisionPolicy(
        name="fp16",
        label=label,
        autocast_dtype=torch.float16,
        flops_dtype="fp16",
        loss_scaling=True,
        initial_scale=2.0**32,
        growth_interval=1000,
    )


#: fp16 autocast with dynamic loss scaling, labelled ``AMP`` as in Iluvatar's published CPM table.
AMP = _fp16("AMP")
FP16 = _fp16("FP16")
BF16 = PrecisionPolicy(name="bf16", label="BF16", autocast_dtype=torch.bfloat16, flops_dtype="bf16")
FP32 = PrecisionPolicy(name="fp32", label="FP32", autocast_dtype=None, flops_dtype="fp32")


def iluvatar_precision_policy(requested: str) -> PrecisionPolicy:
    """``auto``/``amp`` are the reference recipe (fp16 autocast + loss scaling); fp16, bf16 and fp32 as asked."""
    choice = requested.strip().lower()
    policies = {"auto": AMP, "amp": AMP, "fp16": FP16, "bf16": BF16, "fp32": FP32}
    if choice not in policies:
        raise BenchbaseError(f"unknown precision '{requested}'", "use one of auto, amp, bf16, fp16, fp32")
    return policies[choice]
