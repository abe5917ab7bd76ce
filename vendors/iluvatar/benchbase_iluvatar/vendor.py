"""Iluvatar CoreX (BI-V100) as a benchbase vendor.

CoreX's PyTorch exposes the devices through the ``torch.cuda`` API and ships NCCL-compatible collectives, so device
setup, synchronisation, peak memory, discovery caching and binding are the kit's
(:class:`benchbase.kit.CudaLikeVendor`); telemetry and discovery go through ixml or ixsmi
(:mod:`benchbase_iluvatar.probe`). ixml has no CPU-affinity call, so a device without a NUMA node in sysfs keeps the
kit's documented fallback binding. Nothing is probed at construction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchbase.contract import PrecisionPolicy
from benchbase.kit import CudaLikeVendor, torch_build
from benchbase_iluvatar.peak_flops import PEAK_FLOPS
from benchbase_iluvatar.precision import iluvatar_precision_policy
from benchbase_iluvatar.probe import Backend, Probe
from benchbase_iluvatar.sdk import COREX_ROOT, corex_version, sdk_label

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class IluvatarVendor(CudaLikeVendor[Backend]):
    """``probe`` says how to look for the hardware and ``corex_root`` where the SDK lives (tests replace both)."""

    name = "iluvatar"
    description = "Iluvatar CoreX BI-V100 (CoreX PyTorch, NCCL-compatible collectives, ixml/ixsmi telemetry)"
    default_device_model = "BI-V100"
    #: What Iluvatar's Kubernetes device plugin (ix-device-plugin) advertises.
    kubernetes_resource = "iluvatar.ai/gpu"
    config_dir = CONFIG_DIR
    device_noun = "Iluvatar device"
    setup_fix = "install CoreX's PyTorch build and the CoreX driver, or pick another --vendor"
    peak_table = PEAK_FLOPS
    #: The BI-V100's 32 GB of HBM2 (Iluvatar's product brief; ixsmi reports 32768 MiB).
    memory_table = {"BI-V100": 32.0}

    def __init__(self, probe: Probe | None = None, corex_root: Path = COREX_ROOT) -> None:
        super().__init__()
        self._probe = probe or Probe()
        self._corex_root = corex_root

    def open_session(self) -> Backend:
        return self._probe.open()

    def _software_facts(self) -> dict[str, Any]:
        version, version_source = corex_version(self._corex_root, str(torch_build()["version"]))
        return {"sdk": sdk_label(version), "corex_version": version, "corex_version_source": version_source}

    def _found_facts(self, session: Backend) -> dict[str, Any]:
        return {"telemetry": session.source}

    def precision_policy(self, requested: str) -> PrecisionPolicy:
        return iluvatar_precision_policy(requested)
