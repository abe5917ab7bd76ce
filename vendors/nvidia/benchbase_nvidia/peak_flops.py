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

from benchbase.cuda_like import PeakTable

_HOPPER_SXM = {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12, "fp16": 989.4e12}
PEAK_FLOPS: PeakTable = {
    "A100": {"fp32": 19.5e12, "tf32": 156e12, "bf16": 312e12, "fp16": 312e12},
    "H100-SXM": _HOPPER_SXM,
    "H200-SXM": _HOPPER_SXM,
}


def peak_model(long_name: str) -> str | None:
    """The :data:`PEAK_FLOPS` entry of the board NVML names ``long_name`` (``NVIDIA H100 80GB HBM3``), if listed.

    Not the short model: ``H100`` is both the SXM board and the slower PCIe and NVL ones.
    """
    name = long_name.upper()
    if "A100" in name:
        return "A100"
    if any(part in name for part in ("PCIE", "NVL")):
        return None
    return next((f"{model}-SXM" for model in ("H100", "H200") if model in name), None)
