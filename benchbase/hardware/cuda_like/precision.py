"""The precision policies CUDA-like devices share; which one ``auto`` means on a device is the vendor's rule.

Their dtypes are given by name (see :class:`~benchbase.contract.PrecisionPolicy`), so a vendor importing them does
not import torch when it registers.
"""

from __future__ import annotations

from benchbase.contract import PrecisionPolicy

BF16 = PrecisionPolicy(name="bf16", label="BF16", autocast_dtype="bfloat16", flops_dtype="bf16")
FP32 = PrecisionPolicy(name="fp32", label="FP32", autocast_dtype=None, flops_dtype="fp32")


def loss_scaled_fp16(label: str = "FP16") -> PrecisionPolicy:
    """fp16 autocast with dynamic loss scaling, which fp16's narrow range needs to keep small gradients from
    flushing to zero; ``label`` is what the vendor's published table calls the configuration."""
    return PrecisionPolicy(
        name="fp16", label=label, autocast_dtype="float16", flops_dtype="fp16", loss_scaling=True
    )


FP16 = loss_scaled_fp16()
