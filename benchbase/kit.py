"""Stable helpers for plugin authors: what first-party plugins would otherwise copy, kept compatible across versions.

The contract (:mod:`benchbase`) says what a plugin must hand over; the kit is what helps write it. A plugin imports
from here and from :mod:`benchbase` only, never from the core's own modules, which move as the core changes (a test
walks the first-party plugins' imports and enforces it).

Names are resolved when first used (PEP 562), because several pull in torch: a vendor that only needs
:func:`host_binding` must not make ``benchbase list`` pay torch's import.

* **Records and files**: :func:`atomic_write` and :func:`atomic_write_bytes` (a temp file, fsync, rename: readers see
  the old file or the new one),
  :func:`load_torch_file` and :class:`Fixes` (``torch.load`` with ``weights_only`` and one-line refusals).
* **Processes**: :func:`die_with_parent` (a helper process stops when the process that started it dies),
  :class:`RankMemory` (peak resident memory of a run's rank processes, for a host-memory sensor).
* **Topology** (read from sysfs under :data:`DEFAULT_SYSFS_ROOT`, never guessed): :func:`host_binding`, :func:`with_rank`, :func:`split_evenly`,
  :func:`socket_count`, :func:`numa_nodes`, :func:`normalise_pci_bus_id`.
* **The torch build**: :func:`torch_build` (version, CUDA and HIP versions read from torch's files, so a vendor's
  ``environment()`` does not import torch).
* **CUDA-like devices** (NVIDIA and vendors whose stack follows CUDA's and NVML's APIs): :class:`CudaLikeVendor`,
  :class:`NvmlStyleSession`, :func:`import_pynvml`, :func:`nvml_value`, :func:`sysfs_bus_id`,
  :func:`visible_device_order`, :class:`PeakTable`, the precision policies :data:`BF16`, :data:`FP16`, :data:`FP32`
  and :func:`loss_scaled_fp16`.
* **MLPerf export** (for a case implementing the ``benchbase_mlperf_profile`` hook): :class:`CaseProfile`,
  :data:`Hyperparameter`, and the sources a hyperparameter line names, :data:`CONFIG_FILE` (the record's config) and
  :data:`STATED` (stated by the case).
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

#: Each public name and the core module that defines it.
_HOMES = {
    "atomic_write": "benchbase.record.atomic",
    "atomic_write_bytes": "benchbase.record.atomic",
    "load_torch_file": "benchbase.record.safe_load",
    "Fixes": "benchbase.record.safe_load",
    "die_with_parent": "benchbase.launch.lifeline",
    "RankMemory": "benchbase.run.telemetry",
    "DEFAULT_SYSFS_ROOT": "benchbase.hardware.topology",
    "host_binding": "benchbase.hardware.topology",
    "with_rank": "benchbase.hardware.topology",
    "split_evenly": "benchbase.hardware.topology",
    "socket_count": "benchbase.hardware.topology",
    "numa_nodes": "benchbase.hardware.topology",
    "normalise_pci_bus_id": "benchbase.hardware.topology",
    "torch_build": "benchbase.hardware.torch_build",
    "CudaLikeVendor": "benchbase.hardware.cuda_like",
    "NvmlStyleSession": "benchbase.hardware.cuda_like",
    "import_pynvml": "benchbase.hardware.cuda_like",
    "sysfs_bus_id": "benchbase.hardware.cuda_like",
    "visible_device_order": "benchbase.hardware.cuda_like",
    "PeakTable": "benchbase.hardware.cuda_like",
    "BF16": "benchbase.hardware.cuda_like",
    "FP16": "benchbase.hardware.cuda_like",
    "FP32": "benchbase.hardware.cuda_like",
    "loss_scaled_fp16": "benchbase.hardware.cuda_like",
    "nvml_value": "benchbase.hardware.cuda_like.nvml_like",
    "CaseProfile": "benchbase.export.mlperf.profile",
    "Hyperparameter": "benchbase.export.mlperf.profile",
    "CONFIG_FILE": "benchbase.record.schema",
    "STATED": "benchbase.export.mlperf.profile",
}

__all__ = sorted(_HOMES)

if TYPE_CHECKING:
    from benchbase.export.mlperf.profile import STATED, CaseProfile, Hyperparameter
    from benchbase.hardware.cuda_like import (
        BF16,
        FP16,
        FP32,
        CudaLikeVendor,
        NvmlStyleSession,
        PeakTable,
        import_pynvml,
        loss_scaled_fp16,
        sysfs_bus_id,
        visible_device_order,
    )
    from benchbase.hardware.cuda_like.nvml_like import nvml_value
    from benchbase.hardware.topology import (
        DEFAULT_SYSFS_ROOT,
        host_binding,
        normalise_pci_bus_id,
        numa_nodes,
        socket_count,
        split_evenly,
        with_rank,
    )
    from benchbase.hardware.torch_build import torch_build
    from benchbase.launch.lifeline import die_with_parent
    from benchbase.record.atomic import atomic_write, atomic_write_bytes
    from benchbase.record.safe_load import Fixes, load_torch_file
    from benchbase.record.schema import CONFIG_FILE
    from benchbase.run.telemetry import RankMemory


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'benchbase.kit' has no attribute {name!r}")
    value = getattr(_import(home), name)
    globals()[name] = value
    return value


def _import(home: str) -> ModuleType:
    """The module of :data:`_HOMES` named ``home``, each by an import statement of its own: benchbase never imports a
    module by a computed name (tests/reliability/test_security.py), so nothing a user types can choose one."""
    if home == "benchbase.record.atomic":
        from benchbase.record import atomic as module
    elif home == "benchbase.record.safe_load":
        from benchbase.record import safe_load as module
    elif home == "benchbase.record.schema":
        from benchbase.record import schema as module
    elif home == "benchbase.launch.lifeline":
        from benchbase.launch import lifeline as module
    elif home == "benchbase.run.telemetry":
        from benchbase.run import telemetry as module
    elif home == "benchbase.hardware.topology":
        from benchbase.hardware import topology as module
    elif home == "benchbase.hardware.torch_build":
        from benchbase.hardware import torch_build as module
    elif home == "benchbase.hardware.cuda_like":
        from benchbase.hardware import cuda_like as module
    elif home == "benchbase.hardware.cuda_like.nvml_like":
        from benchbase.hardware.cuda_like import nvml_like as module
    elif home == "benchbase.export.mlperf.profile":
        from benchbase.export.mlperf import profile as module
    else:
        raise AttributeError(f"benchbase.kit knows no home module {home!r}")
    return module


def __dir__() -> list[str]:
    return __all__
