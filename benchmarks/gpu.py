"""Benchmark 6: the issue's GPU-only item. It needs a CUDA device, and none has been available to write it on.

Rather than print a figure nobody measured, this module reports why the item did not run: no CUDA device is visible
to torch here, or (on a machine that has one) the benchmark has not been written yet.
"""

from __future__ import annotations

import torch

from benchmarks.result import Result

TITLE = "GPU benchmark"


def skip_reason() -> str:
    """Why the GPU item cannot run on this machine."""
    if not torch.cuda.is_available():
        return "no CUDA device visible to torch (torch.cuda.is_available() is False); the item needs a GPU"
    return (f"a GPU is present ({torch.cuda.get_device_name(0)}) but this tree has no GPU benchmark yet: it was "
            "developed on a CPU-only machine")


def run() -> Result:
    return Result(6, TITLE, goal=0.0, skipped=skip_reason())
