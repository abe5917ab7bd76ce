"""Device handling shared by every vendor whose PyTorch build speaks the ``torch.cuda`` API.

NVIDIA's CUDA and CUDA-compatible stacks (Iluvatar CoreX, and others) expose their devices as ``cuda`` in PyTorch and
number them the CUDA way, honouring ``CUDA_VISIBLE_DEVICES``. Vendors are independent distributions and must not
import each other, so the pieces they would otherwise copy live here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from benchbase.errors import BenchbaseError

_GIB = float(2**30)


def setup_cuda_device(local_rank: int, what: str, fix: str) -> torch.device:
    """Select ``cuda:<local_rank>`` for this rank; ``what`` names the hardware and ``fix`` the remedy in errors."""
    if not torch.cuda.is_available():
        raise BenchbaseError(f"torch cannot use any {what} (torch.cuda.is_available() is False)", fix)
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise BenchbaseError(
            f"local rank {local_rank} needs a {what} but torch sees only {count}",
            "launch at most one process per visible device (check --config and CUDA_VISIBLE_DEVICES)",
        )
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def synchronize_cuda(device: torch.device) -> None:
    torch.cuda.synchronize(device)


def reset_cuda_peak_memory(device: torch.device) -> None:
    torch.cuda.reset_peak_memory_stats(device)


def cuda_peak_memory_gib(device: torch.device) -> float:
    """Peak memory the caching allocator reserved, in GiB.

    Reserved rather than allocated: the published references (FlagPerf, vendor tables) report what ``nvidia-smi``
    shows, which is the allocator's reserved pool plus the context, so reserved is the closer like-for-like figure.
    """
    return torch.cuda.max_memory_reserved(device) / _GIB


def visible_device_order(cuda_visible_devices: str | None, uuids: Sequence[str | None]) -> list[int]:
    """Physical device indices in the order CUDA numbers them under ``CUDA_VISIBLE_DEVICES``.

    Management libraries (NVML and its clones) always count every board, so telemetry and binding must translate a
    rank's CUDA index to the physical one. Entries are indices or ``GPU-`` UUID prefixes, as CUDA accepts them.
    """
    if cuda_visible_devices is None:
        return list(range(len(uuids)))
    order: list[int] = []
    for raw in cuda_visible_devices.split(","):
        entry = raw.strip()
        if not entry:
            continue
        if entry.lstrip("-").isdigit() and 0 <= int(entry) < len(uuids):
            index = int(entry)
        else:
            matches = [i for i, uuid in enumerate(uuids) if entry.startswith("GPU-") and (uuid or "").startswith(entry)]
            if len(matches) != 1:
                raise BenchbaseError(
                    f"CUDA_VISIBLE_DEVICES entry '{entry}' names no single device "
                    f"(there are {len(uuids)}: indices 0-{len(uuids) - 1} or GPU- UUIDs)",
                    "correct CUDA_VISIBLE_DEVICES or unset it",
                )
            index = matches[0]
        if index in order:
            raise BenchbaseError(f"CUDA_VISIBLE_DEVICES names device {index} twice", "list each device once")
        order.append(index)
    return order
