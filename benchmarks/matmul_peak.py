"""The host's measured matrix-multiply rate: the physical limit a training step's FLOP/s is judged against.

A CPU vendor publishes no peak a CPU run could be held to (benchbase's CPU vendor reports none, so MFU is n/a
there), but a large square fp32 ``torch.matmul`` on the same threads is as close to the peak as torch gets on this
host: its arithmetic intensity is high enough that memory does not limit it. The step's own largest multiply is timed
too, because a step cannot beat the rate its biggest GEMM reaches.
"""

from __future__ import annotations

import time

import torch

#: The square size of the peak's multiply: 137 GFLOP, about half a second on two cores.
PEAK_SIZE = 4096
#: Timed multiplies per shape after one untimed; the best counts, since a peak is what the host can reach.
REPEATS = 5


def matmul_flops_per_s(m: int, k: int, n: int, dtype: torch.dtype = torch.float32, repeats: int = REPEATS) -> float:
    """The best rate of ``(m x k) @ (k x n)`` over ``repeats`` timed runs, counting ``2 m k n`` FLOPs a multiply, on
    torch's current intra-op threads."""
    generator = torch.Generator().manual_seed(0)
    left = torch.randn(m, k, generator=generator, dtype=dtype)
    right = torch.randn(k, n, generator=generator, dtype=dtype)
    out = torch.empty(m, n, dtype=dtype)
    torch.matmul(left, right, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(left, right, out=out)
        best = min(best, time.perf_counter() - start)
    return 2.0 * m * k * n / best


def square_peak(dtype: torch.dtype = torch.float32, repeats: int = REPEATS) -> float:
    """The host's matmul peak for ``dtype`` on the current threads: a :data:`PEAK_SIZE` square multiply."""
    return matmul_flops_per_s(PEAK_SIZE, PEAK_SIZE, PEAK_SIZE, dtype, repeats)
