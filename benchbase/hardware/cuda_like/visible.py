"""How CUDA renumbers the boards of a machine under ``CUDA_VISIBLE_DEVICES``."""

from __future__ import annotations

from collections.abc import Sequence

from benchbase.errors import BenchbaseError


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
