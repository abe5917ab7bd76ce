"""Dense (no structured sparsity) peak FLOP/s of one device, from NVIDIA's datasheets.

Sources:
* A100: NVIDIA A100 Tensor Core GPU datasheet - FP32 19.5 TFLOPS, TF32 156, BF16/FP16 312 (the starred figures
  with sparsity are twice these). The datasheet lists the same peaks for the SXM4 and PCIe boards.
* H100 SXM5: NVIDIA H100 Tensor Core GPU datasheet - FP32 67 TFLOPS; TF32 989 and BF16/FP16 1,979 *with sparsity*,
  so dense TF32 494.7 and BF16/FP16 989.4 (528 tensor cores x 1,830 MHz boost x 1,024 dense FP16 FLOP/clock).
* H200 SXM: NVIDIA H200 datasheet - the same GH100 compute as H100 SXM5 (FP32 67, BF16/FP16 1,979 with sparsity).

H100 PCIe/NVL and H200 NVL run fewer SMs or lower clocks than the SXM boards and are deliberately absent: an unknown
board gets ``None``, and the report shows MFU as n/a rather than a wrong denominator.
"""

from __future__ import annotations

_A100 = {"fp32": 19.5e12, "tf32": 156e12, "bf16": 312e12, "fp16": 312e12}
_HOPPER_SXM = {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12, "fp16": 989.4e12}


def _table_for(long_name: str) -> dict[str, float] | None:
    name = long_name.upper()
    if "A100" in name:
        return _A100
    if ("H100" in name or "H200" in name) and not any(part in name for part in ("PCIE", "NVL")):
        return _HOPPER_SXM
    return None


def peak_flops_for(long_name: str, dtype: str) -> float | None:
    """Peak for the board NVML names ``long_name`` (e.g. ``NVIDIA H100 80GB HBM3``) and ``dtype``; else ``None``."""
    table = _table_for(long_name)
    return table.get(dtype) if table else None
