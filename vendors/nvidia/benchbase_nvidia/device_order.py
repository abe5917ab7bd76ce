"""Which NVML device is which CUDA device: ``CUDA_DEVICE_ORDER``, and how far the mapping can be trusted.

NVML numbers the GPUs of a machine in PCI bus order (in practice; its documentation only promises that a PCI bus id
or UUID finds the same device again, which is why the mapping below sorts by the bus ids NVML reports). CUDA numbers
them by ``CUDA_DEVICE_ORDER``:

* ``PCI_BUS_ID``: ascending PCI bus id, the same as NVML's - the mapping is exact;
* ``FASTEST_FIRST`` (CUDA's default, also when the variable is unset or holds anything else): fastest first "using a
  simple heuristic" CUDA does not publish. Among GPUs of one model nothing is faster, and CUDA leaves them in PCI
  bus order (it documents no tie-break, but ``nvidia-smi``'s index being CUDA's on such machines is what every
  multi-GPU launcher relies on), so the mapping is again the bus order. With more than one model it may not be:
  CUDA may put, say, the H100 of a machine with an older display GPU first where NVML counts the display GPU first.
  benchbase then still maps by bus order (its best guess, and right whenever the fastest GPU also has the lowest bus
  id) but records the mapping as uncertain (``device_order`` in ``env.json``) and says how to make it exact.

Numeric ``CUDA_VISIBLE_DEVICES`` entries count in CUDA's order, so they are resolved after this mapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PCI_BUS_ID = "PCI_BUS_ID"
_EXACT_FIX = "set CUDA_DEVICE_ORDER=PCI_BUS_ID so CUDA numbers the GPUs as NVML does"


@dataclass(frozen=True)
class DeviceOrder:
    """NVML's indices in CUDA's order, whether that order is certain, one line saying how it was found, and the
    ``CUDA_DEVICE_ORDER`` it was found under (``None``: unset)."""

    indices: list[int]
    certain: bool
    basis: str
    setting: str | None

    def facts(self) -> dict[str, Any]:
        """The mapping as ``env.json`` records it."""
        return {
            "cuda_device_order": self.setting if self.setting else "FASTEST_FIRST (CUDA's default; unset)",
            "certain": self.certain,
            "basis": self.basis,
        }


def cuda_device_order(setting: str | None, names: Sequence[str | None], bus_ids: Sequence[str | None]) -> DeviceOrder:
    """Map NVML's devices (``names`` and sysfs-form ``bus_ids``, in NVML's order) to CUDA's enumeration."""
    nvml_order = list(range(len(names)))
    if not all(bus_ids):
        basis = "NVML gave no PCI bus id for every GPU, so NVML's own order is assumed to be CUDA's"
        return DeviceOrder(nvml_order, False, basis, setting)
    by_bus = sorted(nvml_order, key=lambda i: str(bus_ids[i]))
    if setting == PCI_BUS_ID:  # compared as CUDA reads it: any other value is FASTEST_FIRST
        return DeviceOrder(by_bus, True, "CUDA_DEVICE_ORDER=PCI_BUS_ID: CUDA numbers the GPUs by PCI bus id", setting)
    models = sorted({str(name) for name in names})
    if len(models) <= 1:
        basis = "FASTEST_FIRST over one GPU model: CUDA keeps equal GPUs in PCI bus order"
        return DeviceOrder(by_bus, True, basis, setting)
    return DeviceOrder(
        by_bus,
        False,
        f"FASTEST_FIRST over {len(models)} GPU models ({', '.join(models)}): CUDA may number them differently from "
        f"the PCI bus order assumed here; {_EXACT_FIX}",
        setting,
    )
