"""Dense peak FLOP/s of one Iluvatar device, from Iluvatar's published figures.

Source: the BI-V100 (Tiangai 100, 天垓100) product brief as widely quoted: "FP32 37 TFLOPS, FP16/BF16 147 TFLOPS,
INT8 295 TOPS". No TF32 figure is published, so ``tf32`` is ``None``; other boards are absent rather than guessed,
and the report then shows MFU as n/a.
"""

from __future__ import annotations

from benchbase.kit import PeakTable

PEAK_FLOPS: PeakTable = {"BI-V100": {"fp32": 37e12, "fp16": 147e12, "bf16": 147e12}}
