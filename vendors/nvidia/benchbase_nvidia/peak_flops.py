"""Dense (no structured sparsity) peak FLOP/s of one device, from NVIDIA's datasheets, keyed by the short model.

NVIDIA prints Hopper's tensor-core figures *with sparsity* (starred); the dense peak MFU needs is half of that.
Sources, figures as printed (TFLOPS):

* ``A100``: NVIDIA A100 Tensor Core GPU datasheet - FP32 19.5, TF32 156, BF16/FP16 312 (the starred figures with
  sparsity are twice these). The datasheet lists the same peaks for the SXM4 and PCIe boards.
* ``H100`` (H100 SXM5): NVIDIA H100 Tensor Core GPU datasheet, column "H100 SXM" - FP32 67, TF32 989*, BF16/FP16
  1,979*; dense TF32 494.7 and BF16/FP16 989.4 (528 tensor cores x 1,830 MHz boost x 1,024 dense FP16 FLOP/clock,
  which is the printed 1,979 / 2 before rounding).
* ``H100-PCIe``: NVIDIA H100 Tensor Core GPU datasheet, 2022 edition, column "H100 PCIe" - FP32 51, TF32 756*,
  BF16/FP16 1,513*; dense TF32 378, BF16/FP16 756.5.
* ``H100-NVL``: NVIDIA H100 Tensor Core GPU datasheet, later editions, column "H100 NVL" (per GPU) - FP32 60,
  TF32 835*, BF16/FP16 1,671*; dense TF32 417.5, BF16/FP16 835.5.
* ``H200`` (H200 SXM): NVIDIA H200 Tensor Core GPU datasheet, column "H200 SXM" - FP32 67, TF32 989*, BF16/FP16
  1,979*: the H100 SXM5's compute, so the same dense figures.
* ``H200-NVL``: NVIDIA H200 Tensor Core GPU datasheet, column "H200 NVL" - FP32 60, TF32 835*, BF16/FP16 1,671*;
  dense as H100 NVL.
* ``GH200``: NVIDIA GH200 Grace Hopper Superchip datasheet - FP32 67, TF32 494 | 989*, BF16/FP16 990 | 1,979*
  (it prints the dense figures too); the GPU of the superchip is the SXM-class H100/H200 compute, so the H100 SXM5
  values. Matched as its own model (:func:`benchbase_nvidia.models.short_model`), not as an ``H200`` by substring.

A board absent here (V100, L40S, H800, ...) gets ``None``, and the report shows MFU as n/a rather than a ratio
against a guessed denominator.
"""

from __future__ import annotations

from benchbase.kit import PeakTable

_HOPPER_SXM = {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12, "fp16": 989.4e12}
_HOPPER_NVL = {"fp32": 60e12, "tf32": 417.5e12, "bf16": 835.5e12, "fp16": 835.5e12}
PEAK_FLOPS: PeakTable = {
    "A100": {"fp32": 19.5e12, "tf32": 156e12, "bf16": 312e12, "fp16": 312e12},
    "H100": _HOPPER_SXM,
    "H100-PCIe": {"fp32": 51e12, "tf32": 378e12, "bf16": 756.5e12, "fp16": 756.5e12},
    "H100-NVL": _HOPPER_NVL,
    "H200": _HOPPER_SXM,
    "H200-NVL": _HOPPER_NVL,
    "GH200": _HOPPER_SXM,
}
